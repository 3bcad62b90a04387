"""`gradscope plot --follow` against a trace written while it watches: it waits for the file,
renders each complete version, ignores a half-appended line, stops when the trace says
complete, and on SIGINT exits 0 after its last render. Needs only the gradscope binary."""
import os
import signal
import subprocess
import sys
import tempfile
import time

GS = os.environ.get("GS_BIN", "build/gradscope")
# Under the sanitizer build LeakSanitizer would add its suppression statistics to stderr,
# which the tests check line by line.
if "LSAN_OPTIONS" in os.environ:
    os.environ["LSAN_OPTIONS"] += ":print_suppressions=0"
COLS = "step,layer,loss,lr,grad_norm,weight_norm,update_ratio\n"


def rows(steps):
    out = []
    for s in steps:
        for layer in (1, 2, 3):
            g = 0.5 ** layer * (1 + 0.01 * s)
            out.append(f"{s},{layer},{2.0 - 0.01 * s:.4f},0.1,{g:.6g},1.0,0.001\n")
    return "".join(out)


def write_atomic(path, text):
    tmp = path + ".w"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def wait_for(cond, what, timeout=20.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start(trace, out, *extra):
    return subprocess.Popen([GS, "plot", "--follow", trace, "-o", out, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def test_live_until_complete(d):
    trace, out = os.path.join(d, "live.csv"), os.path.join(d, "live.png")
    proc = start(trace, out)
    time.sleep(0.8)  # started before the trace exists: it waits
    assert proc.poll() is None, proc.communicate()
    assert not os.path.exists(out)
    head = "# complete = 0\n# writer = test\n" + COLS
    write_atomic(trace, head + rows(range(0, 5)))
    wait_for(lambda: mtime(out) is not None, "the first render")
    first = mtime(out)
    # half a row: not rendered until its newline arrives
    with open(trace, "a") as f:
        f.write(rows([5])[:9])
    time.sleep(1.5)
    assert mtime(out) == first, "rendered a trace ending in half a line"
    with open(trace, "a") as f:
        f.write(rows([5])[9:] + rows(range(6, 20)))
    wait_for(lambda: mtime(out) != first, "a render of the grown trace")
    assert proc.poll() is None
    write_atomic(trace, head.replace("complete = 0", "complete = 1") + rows(range(0, 30)))
    proc.wait(timeout=20)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, (proc.returncode, stderr)
    assert "30 steps x 3 layers" in stdout.splitlines()[-1], stdout
    assert "half" not in stderr and "error" not in stderr.lower(), stderr
    assert not [n for n in os.listdir(d) if n.startswith(".") or ".tmp" in n], os.listdir(d)


def test_sigint_after_render(d):
    trace, out = os.path.join(d, "int.csv"), os.path.join(d, "int.png")
    write_atomic(trace, "# complete = 0\n" + COLS + rows(range(0, 4)))
    proc = start(trace, out, "-q")
    wait_for(lambda: mtime(out) is not None, "the render")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, (proc.returncode, stderr)
    assert stdout == "" and stderr == "", (stdout, stderr)


def test_bad_trace_when_complete(d):
    trace, out = os.path.join(d, "bad.csv"), os.path.join(d, "bad.png")
    write_atomic(trace, "# complete = 1\nstep,layer\n0,1\n")  # no grad_norm column
    proc = start(trace, out)
    proc.wait(timeout=10)
    _, stderr = proc.communicate()
    assert proc.returncode == 2, proc.returncode
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.csv" in lines[0] and "grad_norm" in lines[0], stderr
    assert not os.path.exists(out)


def test_usage(d):
    r = subprocess.run([GS, "plot", "--follow", "--grid", d], capture_output=True, text=True)
    assert r.returncode == 2 and "--follow" in r.stderr and len(r.stderr.splitlines()) == 1
    r = subprocess.run([GS, "plot", "--follow", d, "-o", os.path.join(d, "r.png")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "not a regular file" in r.stderr and d in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1
    r = subprocess.run([GS, "plot", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--follow" in r.stdout


def main():
    if not os.path.exists(GS):
        print(f"{GS} not built: skipping")
        return 77
    tests = [test_usage, test_bad_trace_when_complete, test_sigint_after_render,
             test_live_until_complete]
    for t in tests:
        with tempfile.TemporaryDirectory() as d:
            t(d)
        print(f"ok {t.__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
