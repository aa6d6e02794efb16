"""Log-probability helpers shared by the peer tests and the golden scripts: slm's and llama.cpp's
next-token log-probabilities at every position of a token sequence (one token per call), and the
KL divergence from a reference known only by its top-k."""
import numpy as np

from conftest import run


def log_softmax(rows):
    z = np.asarray(rows, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def slm_logprobs(tools, path, tokens, prefill=0, env=None, timeout=300):
    """slm's log-probabilities (positions, vocab) after each token (from prefill - 1 on when the
    first prefill tokens go in as one batch)."""
    args = [tools / "logits_dump", path, "--tokens", ",".join(map(str, tokens)), "--positions", str(len(tokens)), "--binary"]
    if prefill:
        args += ["--prefill", str(prefill)]
    raw = run(args, env=env, timeout=timeout).stdout
    rows = np.frombuffer(raw, dtype=np.float32)
    return log_softmax(rows.reshape(-1, rows.size // (len(tokens) - max(prefill - 1, 0))))


def llamacpp_decoder(path, n_ctx=64):
    """A function (token, position) -> logits of llama.cpp (llama-cpp-python) on path, one token
    per llama_decode call, with an f32 KV cache and one thread; and the context, to clear."""
    import llama_cpp
    llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False, n_threads=1,
                          type_k=0, type_v=0)
    ctx, n_vocab = llm._ctx.ctx, llm.n_vocab()

    def decode_one(token, pos):
        batch = llama_cpp.llama_batch_init(1, 0, 1)
        batch.token[0], batch.pos[0], batch.n_seq_id[0], batch.logits[0], batch.n_tokens = token, pos, 1, 1, 1
        batch.seq_id[0][0] = 0
        assert llama_cpp.llama_decode(ctx, batch) == 0
        llama_cpp.llama_batch_free(batch)
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).copy()

    decode_one.llm, decode_one.ctx = llm, ctx
    return decode_one


def llamacpp_logprobs(path, tokens):
    """llama.cpp's log-probabilities (positions, vocab) after each token."""
    decode_one = llamacpp_decoder(path, n_ctx=max(64, len(tokens) + 8))
    return log_softmax([decode_one(t, pos) for pos, t in enumerate(tokens)])


def top_k(lp, k=40):
    """(ids, log-probabilities) of the k most likely tokens at each position."""
    ids = np.argsort(-lp, axis=1)[:, :k]
    return ids.astype(np.int32), np.take_along_axis(lp, ids, axis=1).astype(np.float32)


def kl_top(top_ids, top_lp, lp):
    """KL(reference || lp) per position from the reference's top-k log-probabilities, the mass
    outside them taken as one event."""
    top_lp = np.asarray(top_lp, dtype=np.float64)
    p = np.exp(top_lp)
    ours = np.take_along_axis(lp, top_ids, axis=1)
    rest_p, rest_q = np.clip(1 - p.sum(1), 1e-12, 1), np.clip(1 - np.exp(ours).sum(1), 1e-12, 1)
    return (p * (top_lp - ours)).sum(1) + rest_p * np.log(rest_p / rest_q)
