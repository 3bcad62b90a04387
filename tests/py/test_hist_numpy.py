"""The histogram side file with NumPy: `gradscope run --hist all` writes TRACE.hist.npy that
numpy.load reads as float32 (steps, layers, 3, 228) named by the CSV metadata; every count adds
up to the tensor's entries; and the step-0 activation histogram of the first layer matches an
independent NumPy float64 recomputation from the exported weights and batch (log10|h| in quarter
decades, the signed linear bins over [-1, 1] for tanh). Exit 77 (skip) without NumPy."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipping")
    sys.exit(77)

GS = os.environ.get("GS_BIN", "build/gradscope")


def meta(path):
    m = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            k, _, v = line[1:].partition("=")
            m[k.strip()] = v.strip()
    return m


def main():
    with tempfile.TemporaryDirectory() as d:
        csv = os.path.join(d, "run.csv")
        ex = os.path.join(d, "w")
        subprocess.run([GS, "run", "--act", "tanh", "--depth", "3", "--width", "16", "--steps",
                        "9", "--record-every", "4", "--batch", "32", "--hist", "all", "--trace",
                        csv, "--export-weights", ex, "--no-report"], check=True,
                       stdout=subprocess.DEVNULL)
        m = meta(csv)
        assert m["hist"] == "grad,act,update", m
        assert m["hist_bins"] == "228" and m["hist_log_edges"] == "-30:10:0.25", m
        assert float(m["hist_act_range"]) == 1.0, m
        h = np.load(os.path.join(d, m["hist_file"]))
        assert h.dtype == np.float32 and h.shape == (3, 4, 3, 228), (h.dtype, h.shape)
        d_in, d_out, w = int(m["data_inputs"]), int(m["data_outputs"]), 16
        sizes = [d_in * w, w * w, w * w, w * d_out]
        units = [w, w, w, d_out]
        for s in range(3):
            for l in range(4):
                for k in (0, 2):  # grad, update: one count per weight entry, no linear part
                    assert h[s, l, k, :164].sum() == sizes[l], (s, l, k)
                    assert h[s, l, k, 164:].sum() == 0
                assert h[s, l, 1, :164].sum() == 32 * units[l]
                assert h[s, l, 1, 164:].sum() == 32 * units[l]
        # step 0, layer 1: h = tanh(x W^T + b) on the exported batch, in float64
        x = np.load(os.path.join(ex, "data.x.npy")).astype(np.float64)
        W = np.load(os.path.join(ex, "dense1.weight.npy")).astype(np.float64)
        b = np.load(os.path.join(ex, "dense1.bias.npy")).astype(np.float64)
        act = np.tanh(x @ W.T + b).ravel()
        a = np.abs(act[act != 0])
        j = np.clip(np.floor(4 * (np.log10(a) + 30)), 0, 159).astype(int)
        want = np.bincount(j, minlength=160)
        got = h[0, 0, 1, 4:164]
        # float32 vs float64 may move an entry lying within rounding of an edge by one bin
        diff = np.abs(got - want).sum()
        assert diff <= 4, (diff, np.nonzero(got - want))
        lin = np.clip(np.floor(act * 32) + 32, 0, 63).astype(int)
        lwant = np.bincount(lin, minlength=64)
        ldiff = np.abs(h[0, 0, 1, 164:] - lwant).sum()
        assert ldiff <= 4, (ldiff, np.nonzero(h[0, 0, 1, 164:] - lwant))
        assert h[0, 0, 1, 0] == np.count_nonzero(act == 0)
    print("hist side file: shape, counts and the step-0 activation histogram agree with NumPy")


if __name__ == "__main__":
    main()
