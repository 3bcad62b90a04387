/* Recurrent networks with PyTorch's exact cell semantics (nn.RNN / nn.LSTM / nn.GRU with
 * batch_first=True, stacked, followed by an nn.Linear head `out`), trained by full or
 * truncated backpropagation through time, with the through-time gradient norms kept. */
#ifndef GRADSCOPE_RNN_H
#define GRADSCOPE_RNN_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/init.h"
#include "gradscope/status.h"
#include "gradscope/tensor.h"

/* Cell kinds (PyTorch's modes). Gates per cell G: 1, 1, 4 (i, f, g, o), 3 (r, z, n). */
typedef enum {
    GS_CELL_RNN_TANH = 0, /* h' = tanh(W_ih x + b_ih + W_hh h + b_hh) */
    GS_CELL_RNN_RELU,     /* h' = relu(W_ih x + b_ih + W_hh h + b_hh) */
    GS_CELL_LSTM,         /* c' = f c + i g, h' = o tanh(c') */
    GS_CELL_GRU,          /* n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1-z) n + z h */
    GS_CELL_COUNT
} GsCellKind;

/* Parses "rnn_tanh", "rnn_relu", "lstm", "gru"; GS_ERR_INVALID naming the text otherwise. */
GsStatus gs_cell_parse(const char *text, GsCellKind *out, GsError *err);
/* Name of a kind ("lstm"); NULL for an out-of-range kind. */
const char *gs_cell_name(GsCellKind kind);
/* Gate blocks G of the kind's weight matrices (G*H rows). */
size_t gs_cell_gates(GsCellKind kind);

/* Initialization of the recurrent weights weight_hh_l{k}. */
typedef enum {
    GS_HH_DEFAULT = 0, /* PyTorch's U(-1/sqrt(H), 1/sqrt(H)) */
    GS_HH_IDENTITY,    /* gain * I in every gate block (IRNN: Le, Jaitly & Hinton 2015) */
    GS_HH_SCHEME       /* any GsInit (orthogonal[:GAIN] among them), per gate block */
} GsHhInitKind;

/* A recurrent-weight initialization. */
typedef struct {
    GsHhInitKind kind;
    double gain; /* GS_HH_IDENTITY */
    GsInit init; /* GS_HH_SCHEME */
} GsHhInit;

/* Parses "default", "identity[:GAIN]", or any gs_init_parse text ("orthogonal:1.1",
 * "normal:0.05"). GS_ERR_INVALID naming the text (and, for identity, a gain that is not a
 * positive number); *out untouched on failure. */
GsStatus gs_hh_init_parse(const char *text, GsHhInit *out, GsError *err);

/* Where the head `out` reads the top layer's hidden state. */
typedef enum {
    GS_RNN_HEAD_LAST = 0, /* many-to-one: on h_T only; targets (B, d_out) or labels (B) */
    GS_RNN_HEAD_EACH      /* per step: on every h_t; targets (B, T, d_out) or labels (B, T) */
} GsRnnHead;

/* Loss of the head, as PyTorch's defaults: mse = mean over all target entries, xent =
 * softmax cross-entropy averaged over the B (or B*T) labelled rows. */
typedef enum { GS_RNN_LOSS_MSE = 0, GS_RNN_LOSS_XENT } GsRnnLoss;

/* The whole recurrent setup. Plain value; gs_rnn_config_default fills it. */
typedef struct {
    GsCellKind cell;
    size_t d_in;      /* input features D per time step, >= 1 */
    size_t hidden;    /* H, >= 1 */
    size_t depth;     /* stacked recurrent layers K, >= 1 */
    size_t d_out;     /* head outputs (classes for xent), >= 1 (>= 2 for xent) */
    size_t seq_len;   /* largest T a forward pass may use, >= 1 */
    size_t batch_max; /* largest B a forward pass may use, >= 1 */
    GsRnnHead head;
    GsRnnLoss loss;
    size_t bptt;         /* 0: full BPTT; K >= 1: truncated to a window of K steps (below) */
    int init_ih_default; /* 1: PyTorch's default for weight_ih; 0: init_ih */
    GsInit init_ih;      /* weight_ih_l{k}, applied per gate block (H x n_in) */
    GsHhInit init_hh;    /* weight_hh_l{k}, per gate block (H x H) */
    int has_forget_bias; /* LSTM only: forget slice of bias_ih = forget_bias, of bias_hh = 0 */
    double forget_bias;
    /* LSTM only, instead of a forget bias: chrono init (Tallec & Ollivier 2018), forget
     * slice of bias_ih = log(u), u ~ U[1, chrono_tmax - 1], input slice = -log(u), both slices
     * of bias_hh = 0; chrono_tmax > 2, typically the longest dependency (T) */
    int chrono;
    double chrono_tmax;
    uint64_t seed; /* the parameter stream: same config and seed, same bits */
} GsRnnConfig;

/* A config with PyTorch's defaults: tanh RNN, depth 1, many-to-one mse head, full BPTT,
 * default init, seed 0. The caller sets d_in, hidden, d_out, seq_len, batch_max. */
GsRnnConfig gs_rnn_config_default(void);
/* Checks every field; GS_ERR_INVALID naming the field and its value. */
GsStatus gs_rnn_config_validate(const GsRnnConfig *cfg, GsError *err);

/* Arena sizes (in floats) of a valid config. Pure; the only place sizes are computed. */
typedef struct {
    size_t n_params;  /* parameters (== gradients) */
    size_t n_acts;    /* activations and caches the backward pass reads, and its scratch */
    size_t n_tensors; /* entries of the tensor table: 4 per layer + 2 for the head */
    size_t bytes;     /* everything gs_rnn_create allocates, for memory estimates */
} GsRnnSizes;

/* Sizes of cfg; GS_ERR_INVALID (as gs_rnn_config_validate) or GS_ERR_RANGE when a size
 * overflows size_t. *out untouched on failure. */
GsStatus gs_rnn_sizes(const GsRnnConfig *cfg, GsRnnSizes *out, GsError *err);

/* The tensor table is tensor.h's, the same shape as the dense net's (net.h): these are its
 * recurrent roles under their older names. */
typedef GsTensorRole GsRnnTensorRole;
#define GS_RT_WEIGHT_IH GS_TENSOR_WEIGHT_IH
#define GS_RT_WEIGHT_HH GS_TENSOR_WEIGHT_HH
#define GS_RT_BIAS_IH GS_TENSOR_BIAS_IH
#define GS_RT_BIAS_HH GS_TENSOR_BIAS_HH
#define GS_RT_OUT_WEIGHT GS_TENSOR_OUT_WEIGHT
#define GS_RT_OUT_BIAS GS_TENSOR_OUT_BIAS

/* One parameter tensor (tensor.h): its PyTorch state_dict key ("rnn.weight_ih_l0",
 * "rnn.bias_hh_l1", "out.weight", "out.bias"), role, kind (GS_LAYER_RECURRENT; the head
 * GS_LAYER_DENSE), layer (recurrent layer 0..depth-1; depth for the head), shape ((G*H,
 * n_in), (G*H, H), (G*H), (d_out, H), (d_out)) and offset into the parameter and gradient
 * arenas. */
typedef GsTensorInfo GsRnnTensor;

/* Opaque recurrent net: parameters, gradients, activations and through-time statistics. */
typedef struct GsRnn GsRnn;

/* Validates cfg, allocates every arena once and initializes the parameters from cfg's
 * init and seed (rnn layers in order, then the head). GS_ERR_INVALID, GS_ERR_RANGE or
 * GS_ERR_NOMEM with a message; *out untouched on failure. */
GsStatus gs_rnn_create(const GsRnnConfig *cfg, GsRnn **out, GsError *err);
/* Frees the net; NULL is a no-op. */
void gs_rnn_destroy(GsRnn *net);

/* The config the net was built from. */
const GsRnnConfig *gs_rnn_config(const GsRnn *net);
/* Parameter tensors in state_dict order; *n receives the count. Valid while the net lives. */
const GsRnnTensor *gs_rnn_tensors(const GsRnn *net, size_t *n);
/* The parameter and gradient arenas (gs_rnn_sizes' n_params floats each, table order). */
float *gs_rnn_params(GsRnn *net);
float *gs_rnn_grads(GsRnn *net);
size_t gs_rnn_n_params(const GsRnn *net);

/* Sets every gradient to zero (backward accumulates). */
void gs_rnn_zero_grad(GsRnn *net);
/* Forward pass of x (B, T, d_in), batch first, B <= batch_max, 1 <= T <= seq_len, from
 * zero initial states. Keeps what backward needs and the hidden-state statistics. */
void gs_rnn_forward(GsRnn *net, const float *x, size_t B, size_t T);
/* Loss of the last forward pass and its gradient w.r.t. the head's output, ready for
 * backward. mse: target (B, d_out) or, per step, (B, T, d_out); xent: label (B) or (B, T)
 * with ids in [0, d_out). The other pointer may be NULL. */
double gs_rnn_loss(GsRnn *net, const float *target, const int32_t *label);
/* Backpropagation through time of the last forward/loss; accumulates every parameter
 * gradient and fills the through-time gradient norms.
 * Full BPTT (bptt 0): the exact gradient. Truncated (bptt K): the gradient of every loss
 * term at step s flows back through steps s, s-1, ..., s-K+1 only: what would flow into
 * the states h_{s-K} (and c_{s-K}) of every layer from that term is cut, as if those states
 * were constants (Williams & Peng's BPTT(K), one window per loss term; a many-to-one head
 * has the one term s = T). Parameter gradients of the window's first step still count. */
void gs_rnn_backward(GsRnn *net);
/* Output of the last forward pass: (B, d_out), or per step (B, T, d_out) batch first. */
const float *gs_rnn_output(const GsRnn *net);

/* Through-time quantities of recurrent layer l (0-based) from the last forward/backward,
 * arrays of T entries (t = 1..T at index 0..T-1), valid until the next pass:
 * h_grad_norm = ||dL/dh_t||_F over batch x hidden, the total gradient reaching h_t (from the
 * head at t and from step t+1 and the layer above); c_grad_norm the same for the LSTM cell
 * state (NULL for other cells); h_mean, h_std (population) and h_saturation (fraction of
 * entries with |h| > sqrt(0.95), where a tanh's slope is below 5% of its largest; 0 for
 * relu cells, which cannot saturate) of the hidden state h_t. Norms summed in double. */
const double *gs_rnn_h_grad_norm(const GsRnn *net, size_t l);
const double *gs_rnn_c_grad_norm(const GsRnn *net, size_t l);
const double *gs_rnn_h_mean(const GsRnn *net, size_t l);
const double *gs_rnn_h_std(const GsRnn *net, size_t l);
const double *gs_rnn_h_saturation(const GsRnn *net, size_t l);
/* Hidden states of layer l from the last forward pass, (T, B, H) time major: h_t of sample b
 * at ((t-1) * B + b) * H. */
const float *gs_rnn_hidden(const GsRnn *net, size_t l);
/* Gate activations of layer l, (T, B, G*H) time major, after their nonlinearities (RNN:
 * h itself; LSTM: i, f, g, o; GRU: r, z, n), for saturation and dead-unit probes. */
const float *gs_rnn_gates(const GsRnn *net, size_t l);

/* Writes every parameter tensor as DIR/<name>.npy (rnn.weight_ih_l0.npy, ..., out.bias.npy),
 * loadable into nn.RNN/LSTM/GRU(batch_first=True) + nn.Linear by name. dir must exist.
 * GS_ERR_IO naming the file on failure. */
GsStatus gs_rnn_export_npy(const GsRnn *net, const char *dir, GsError *err);

/* Largest singular value of w (rows x cols, row-major), in double: the square root of the
 * spectral radius of w^T w found by repeated squaring (exact to rounding even when the top
 * singular values are close). GS_ERR_NOMEM when the scratch cannot be allocated. */
GsStatus gs_rnn_sigma_max(const float *w, size_t rows, size_t cols, double *out);
/* Spectral radius (largest |eigenvalue|) of the square w (n x n), in double, by Gelfand's
 * formula rho = lim ||w^k||^(1/k) with k = 2^m by repeated normalized squaring (complex
 * eigenvalue pairs need no special case). GS_ERR_NOMEM as above. */
GsStatus gs_rnn_spectral_radius(const float *w, size_t n, double *out);

/* The recurrent weight weight_hh_l{layer} as it is now (at init, before training): sigma_max
 * of the whole (G*H, H) matrix, and the spectral radius of the gate block that carries the
 * state (the rnn cell's own, an LSTM's candidate g, a GRU's candidate n), which the theory
 * reads. GS_ERR_INVALID for a layer the net does not have, GS_ERR_NOMEM. */
GsStatus gs_rnn_recurrent_spectra(const GsRnn *net, size_t layer, double *sigma_max, double *rho);

#endif
