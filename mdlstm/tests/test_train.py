"""Tests of mdlstm.train: windows, training, model selection, repeatability."""

import threading
import warnings

import numpy as np
import pytest
import torch
from deeptime.markov.msm import MarkovStateModel

from mdlstm import _recipe, _training
from mdlstm.model import CharLSTM
from mdlstm.train import (LSTMEstimator, TransformerEstimator, fit_many, split_held_out,
                          window_starts)

P3 = np.array([[0.90, 0.06, 0.04],
               [0.05, 0.90, 0.05],
               [0.04, 0.08, 0.88]])
# The unit tests' short chains have few held-out state changes; the test of
# that warning checks it on its own.
pytestmark = pytest.mark.filterwarnings("ignore:the held-out block")

SMALL = dict(embedding_dim=4, hidden_size=32, seq_length=50, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def chain():
    return MarkovStateModel(P3).simulate(30_000, seed=1)


@pytest.fixture(scope="module")
def fitted(chain):
    return LSTMEstimator(seed=0, **SMALL).fit(chain)   # the default recipe


def _transition_matrix(trajs, n):
    counts = np.zeros((n, n))
    for t in trajs:
        np.add.at(counts, (t[:-1], t[1:]), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_generated_statistics_match_known_chain(fitted):
    """Populations within 0.02 and transition probabilities within 10 %."""
    model = fitted.fetch_model()
    gen = model.generate(4000, n_trajectories=64, seed=2)
    pop = np.bincount(gen.ravel(), minlength=3) / gen.size
    pi = MarkovStateModel(P3).stationary_distribution
    np.testing.assert_allclose(pop, pi, atol=0.02)
    np.testing.assert_allclose(_transition_matrix(gen.astype(int), 3), P3, rtol=0.10)


def test_held_out_loss_near_entropy_rate(fitted, chain):
    pi = MarkovStateModel(P3).stationary_distribution
    entropy_rate = -np.sum(pi[:, None] * P3 * np.log(P3))
    kept = fitted.history["kept"].index(True)
    val = fitted.history["val_loss"][kept]
    assert abs(val - entropy_rate) / entropy_rate < 0.05
    # the kept weights are those of the kept row
    held_out = chain[-3000:]
    assert fitted.fetch_model().score(held_out) == pytest.approx(val, rel=1e-5)


def test_history_layout(fitted):
    h = fitted.history
    n = len(h["epoch"])
    # 26,999 // 50 = 539 windows in 64 streams: 8 updates an epoch; "auto" plans
    # 60 passes but at least 1,000 updates: 125 epochs, evaluated every 6
    assert n == 21 and h["epoch"] == list(range(6, 121, 6)) + [125]
    assert h["update"] == [8 * e for e in h["epoch"]]
    keys = ("train_loss", "val_loss", "learning_rate", "time_s", "candidate",
            "population_error", "transition_error", "kept")
    assert all(len(h[k]) == n for k in keys)
    assert all(np.isfinite(h["train_loss"])) and all(np.isfinite(h["val_loss"]))
    assert np.all(np.diff(h["learning_rate"]) < 0) and h["learning_rate"][-1] == 0  # cosine
    # candidates: the evaluations in the last third, each with its chains' errors
    assert h["candidate"] == [8 * e >= 1000 * 2 / 3 for e in h["epoch"]]
    for row in range(n):
        errors = (h["population_error"][row], h["transition_error"][row])
        assert (None not in errors) == h["candidate"][row]
    assert sum(h["kept"]) == 1 and h["candidate"][h["kept"].index(True)]
    # the kept candidate has the smallest summed error of the candidates
    score = [p + t for p, t, c in zip(h["population_error"], h["transition_error"],
                                      h["candidate"]) if c]
    kept_score = h["population_error"][h["kept"].index(True)] + \
        h["transition_error"][h["kept"].index(True)]
    assert kept_score == min(score) and 0 <= min(score) < 0.2
    meta = fitted.fetch_model().metadata
    training = meta["training"]
    assert (training["carry_state"], training["n_epochs"], training["n_updates"],
            training["n_windows"], training["batch_size"]) == (True, 125, 1000, 539, 64)
    assert sum(meta["state_counts"]) == 30_000
    assert sorted(map(tuple, meta["transitions"])) == [(i, j) for i in range(3)
                                                       for j in range(3) if i != j]


def test_shuffled_windows_keep_the_old_recipe(chain):
    est = LSTMEstimator(carry_state=False, epochs=1, seed=0, **SMALL).fit(chain)
    training = est.fetch_model().metadata["training"]
    assert training["stride"] == 3  # 27,000 training states / 8,000 windows
    assert (training["n_windows"], training["n_updates"]) == (8984, 8984 // 64)


@pytest.mark.parametrize("selection", ["held_out", "last"])
def test_other_selections_keep_their_candidate(chain, selection):
    est = LSTMEstimator(epochs=6, seed=0, selection=selection, **SMALL).fit(chain[:8000])
    h = est.history
    candidates = [k for k, c in enumerate(h["candidate"]) if c]
    assert candidates == [3, 4, 5]   # epochs 4, 5 and 6 of 6
    expected = (max(candidates) if selection == "last"
                else min(candidates, key=lambda k: (h["val_loss"][k], -k)))
    assert h["kept"].index(True) == expected and est.best_epoch == h["epoch"][expected]
    assert h["population_error"][expected] is None  # no chains without "generated"


def test_carried_windows_cover_each_trajectory_in_consecutive_windows():
    trajs = [np.arange(1000), 5000 + np.arange(420), 9000 + np.arange(17)]
    windows = _training._CarriedWindows(trajs, 10, 8)
    # 99 + 41 + 1 windows of 11 states (10 targets each); 8 streams of 17
    assert (windows.batch, windows.n_updates) == (8, 17)
    data = np.concatenate(trajs)
    for seed in range(3):
        updates = list(windows.epoch(np.random.default_rng(seed), "cpu"))
        starts = np.array([s.numpy() for s, _ in updates])
        keep = np.array([k.numpy() for _, k in updates])
        assert starts.shape == keep.shape == (17, 8) and not keep[0].any()
        states = data[starts[..., None] + np.arange(11)]
        assert np.all(np.diff(states, axis=-1) == 1)   # never across trajectories
        # a carried state continues exactly where the previous window's targets end
        follows = states[1:, :, 0] == states[:-1, :, -1]
        np.testing.assert_array_equal(keep[1:], follows)
        assert len(np.unique(starts)) == starts.size


@pytest.mark.parametrize("n_chars, epochs", [(30_001, 112), (1_600_001, 10), (300, 1000)])
def test_auto_epochs_plan_sixty_passes_within_the_update_budget(n_chars, epochs):
    est = LSTMEstimator(**SMALL)
    windows = _training._CarriedWindows([np.zeros(n_chars, int)], 50, 64)
    per_epoch = windows.n_updates
    assert windows.passes_per_epoch == 1
    assert est._epochs(per_epoch, windows.passes_per_epoch) == epochs
    assert epochs == 60 or 1000 <= epochs * per_epoch <= 5000


@pytest.mark.parametrize("n_chars, stride, epochs", [
    (300_001, 32, 30),      # windows overlap twice: 30 epochs are the 60 passes
    (72_001, 9, 9),         # 8 epochs would be 60 passes, but fewer than 1,000 updates
    (1_600_001, 64, 12)])   # no overlap: the 5,000-update ceiling binds
def test_auto_epochs_count_the_passes_of_overlapping_windows(n_chars, stride, epochs):
    windows = _training._ShuffledWindows([np.zeros(n_chars, int)], 64, 64, stride)
    assert windows.passes_per_epoch == 64 / stride
    assert LSTMEstimator(**SMALL)._epochs(windows.n_updates, windows.passes_per_epoch) == epochs
    assert 1000 <= epochs * windows.n_updates <= 5000


def test_same_seed_same_model(chain):
    a = LSTMEstimator(epochs=1, seed=5, **SMALL).fit(chain[:5000]).fetch_model()
    b = LSTMEstimator(epochs=1, seed=5, **SMALL).fit(chain[:5000]).fetch_model()
    c = LSTMEstimator(epochs=1, seed=6, **SMALL).fit(chain[:5000]).fetch_model()
    for (k, va), vb in zip(a.network.state_dict().items(), b.network.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.network.head.weight, c.network.head.weight)


def test_cpu_chunks_give_the_steps_of_the_whole_batch(chain, monkeypatch):
    """Gradients accumulated over chunks of 64 windows = the gradient of 256 at once."""
    fits = {}
    for chunk in (64, 256):
        monkeypatch.setattr(_recipe, "CPU_CHUNK", chunk)
        fits[chunk] = LSTMEstimator(epochs=2, seed=3, **{**SMALL, "batch_size": 256}).fit(
            chain[:12_000])
    np.testing.assert_allclose(fits[64].history["train_loss"], fits[256].history["train_loss"],
                               rtol=1e-5)
    for (k, a), b in zip(fits[64].fetch_model().network.state_dict().items(),
                         fits[256].fetch_model().network.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)


def test_chunks_run_side_by_side_with_the_weights_of_one_thread(chain, monkeypatch):
    """With 2 torch threads the 4 chunks of a batch run on 2 one-thread workers."""
    seen = set()
    call = _training._ChunkPass.__call__

    def recording_call(self, starts):
        seen.add((threading.current_thread().name, torch.get_num_threads()))
        return call(self, starts)

    monkeypatch.setattr(_training._ChunkPass, "__call__", recording_call)
    before = torch.get_num_threads()
    fits = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fits[threads] = LSTMEstimator(epochs=2, seed=3, **{**SMALL, "batch_size": 256}).fit(
                chain[:12_000])
            assert torch.get_num_threads() == threads  # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    workers = {name for name, _ in seen if name.startswith("mdlstm-chunk")}
    assert len(workers) == 2 and {n for name, n in seen if name in workers} == {1}
    assert fits[1].history["train_loss"] == fits[2].history["train_loss"]
    for (k, a), b in zip(fits[1].fetch_model().network.state_dict().items(),
                         fits[2].fetch_model().network.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_worker_threads_run_bfloat16_chunks_under_autocast(chain, two_threads, monkeypatch):
    seen = set()
    forward = CharLSTM.forward

    def recording_forward(self, states, hidden=None):
        seen.add((threading.current_thread().name, torch.is_autocast_enabled("cpu"),
                  torch.get_autocast_dtype("cpu")))
        return forward(self, states, hidden)

    monkeypatch.setattr(CharLSTM, "forward", recording_forward)
    LSTMEstimator(epochs=1, seed=3, precision="bfloat16", validation_fraction=0,
                  **{**SMALL, "batch_size": 256}).fit(chain[:12_000])
    in_workers = {(on, dtype) for name, on, dtype in seen if name.startswith("mdlstm-chunk")}
    assert in_workers == {(True, torch.bfloat16)}


def test_a_failing_chunk_restores_the_callers_threads(chain, two_threads, monkeypatch):
    def failing_call(self, starts):
        raise RuntimeError("chunk failed")

    monkeypatch.setattr(_training._ChunkPass, "__call__", failing_call)
    with pytest.raises(RuntimeError, match="chunk failed"):
        LSTMEstimator(epochs=1, seed=3, **{**SMALL, "batch_size": 256}).fit(chain[:12_000])
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("batch_size", [64, 256])
def test_fit_inside_no_grad_trains_all_the_same(chain, two_threads, batch_size):
    """One chunk per batch (caller's thread) and several (workers) alike."""
    settings = dict(epochs=1, seed=3, validation_fraction=0,
                    **{**SMALL, "batch_size": batch_size})
    with torch.no_grad():
        inside = LSTMEstimator(**settings).fit(chain[:12_000])
    outside = LSTMEstimator(**settings).fit(chain[:12_000])
    assert inside.history["train_loss"] == outside.history["train_loss"]


@pytest.mark.parametrize("scaling, factor", [(None, 1.0), ("sqrt", 2.0), ("linear", 4.0)])
def test_lr_scaling_scales_the_peak_rate_with_the_batch(chain, scaling, factor):
    est = LSTMEstimator(epochs=1, seed=0, lr_scaling=scaling, lr_schedule="constant",
                        carry_state=False, **{**SMALL, "batch_size": 256})
    est.fit(chain[:14_000])
    assert est.history["learning_rate"][0] == pytest.approx(3e-3 * factor)
    training = est.fetch_model().metadata["training"]
    assert training["learning_rate"] == 3e-3
    assert training["peak_learning_rate"] == pytest.approx(3e-3 * factor)


def test_bfloat16_training_is_mixed_precision_of_the_same_fit(chain):
    """bfloat16 arithmetic changes the losses a little, not the float32 weights."""
    fits = {p: LSTMEstimator(epochs=2, seed=3, precision=p, **SMALL).fit(chain[:12_000])
            for p in ("float32", "bfloat16")}
    losses = {p: np.array(f.history["train_loss"]) for p, f in fits.items()}
    assert not np.array_equal(losses["bfloat16"], losses["float32"])
    np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=1e-3)
    model = fits["bfloat16"].fetch_model()
    assert all(p.dtype == torch.float32 for p in model.network.parameters())
    assert model.metadata["training"]["precision"] == "bfloat16"
    assert model.generate(200, n_trajectories=4, seed=0).shape == (4, 200)


def test_few_held_out_changes_warn_when_they_choose_the_weights():
    """A held-out block of rare transitions cannot choose the kept weights: a warning."""
    rare = np.repeat(np.arange(40) % 2, 500)  # 39 changes, 3 of them in the last 10 %
    with pytest.warns(UserWarning, match=r"holds only 3 state changes.*selection='generated'"):
        LSTMEstimator(epochs=1, selection="held_out", **SMALL).fit(rare)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LSTMEstimator(epochs=1, **SMALL).fit(rare)   # chosen by the generated chains
        LSTMEstimator(epochs=1, validation_fraction=0, selection="held_out",
                      **SMALL).fit(rare)


def test_fit_many_equals_fits_in_this_process(chain):
    torch.set_num_threads(1)  # the workers' thread count: the same arithmetic
    estimators = [LSTMEstimator(epochs=1, seed=seed, **SMALL) for seed in (5, 6)]
    datasets = [chain[:5000], [chain[5000:8000], chain[8000:11000]]]
    parallel = fit_many(estimators, datasets, n_workers=2)
    assert all(not hasattr(est, "history") for est in estimators)  # left as they were
    for est, data, fitted in zip(estimators, datasets, parallel):
        here = est.fit(data)
        assert fitted.history["train_loss"] == here.history["train_loss"]
        for (k, a), b in zip(fitted.fetch_model().network.state_dict().items(),
                             here.fetch_model().network.state_dict().values()):
            assert torch.equal(a, b), k


@pytest.mark.parametrize("estimators, n_datasets, kwargs, exc, match", [
    ([], 0, {}, ValueError, "estimators is empty"),
    (["model"], 1, {}, TypeError, r"estimators\[0\] must be an LSTMEstimator"),
    ([LSTMEstimator(epochs=0)], 1, {}, ValueError, "epochs"),
    ([LSTMEstimator(), LSTMEstimator()], 1, {}, ValueError, "one entry per estimator"),
    ([LSTMEstimator()], 1, {"threads_per_worker": 0}, ValueError, "threads_per_worker"),
    ([LSTMEstimator()], 1, {"n_workers": 0}, ValueError, "n_workers"),
])
def test_fit_many_rejects_bad_arguments(chain, estimators, n_datasets, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit_many(estimators, [chain[:500]] * n_datasets, **kwargs)


def test_fit_many_checks_data_before_starting(chain):
    with pytest.raises(ValueError, match=r"datasets\[1\] contains state -1"):
        fit_many([LSTMEstimator(), LSTMEstimator()], [chain[:500], np.array([0, 1, -1])])


def test_fit_many_raises_the_workers_warnings_in_the_caller():
    rare = np.repeat(np.arange(40) % 2, 500)  # few held-out changes: fit warns
    with pytest.warns(UserWarning, match=r"estimators\[0\]: the held-out block"):
        fit_many([LSTMEstimator(epochs=1, selection="held_out", **SMALL)], [rare],
                 n_workers=1)


def test_windows_never_cross_trajectories():
    trajs = [np.arange(10), np.arange(7), np.arange(3)]
    starts = window_starts(trajs, 4, 2)
    np.testing.assert_array_equal(starts, [0, 2, 4, 6, 10, 12])
    concat = np.concatenate(trajs)
    for s in starts:  # every window is 4 consecutive values of one trajectory
        assert np.all(np.diff(concat[s:s + 4]) == 1)


def test_validation_is_tail_of_each_trajectory():
    train, val = split_held_out([np.arange(100), np.arange(10)], 0.1)
    np.testing.assert_array_equal(val[0], np.arange(90, 100))
    assert len(train[0]) == 90 and len(train[1]) == 10  # a 1-state tail stays in training
    assert len(val) == 1


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
    ({"epochs": -3}, ValueError, "epochs must be a positive integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size must be a positive integer"),
    ({"learning_rate": -1}, ValueError, "learning_rate must be a positive"),
    ({"lr_schedule": "step"}, ValueError, "lr_schedule must be 'cosine' or 'constant'"),
    ({"lr_scaling": "cubic"}, ValueError, "lr_scaling must be None, 'sqrt' or 'linear'"),
    ({"precision": "float16"}, ValueError, "precision must be 'float32' or 'bfloat16'"),
    ({"precision": ["bfloat16"]}, ValueError, "precision must be 'float32' or 'bfloat16'"),
    ({"lr_scaling": np.array(["sqrt"])}, ValueError, "lr_scaling must be None"),
    ({"stride": 0}, ValueError, "stride must be a positive integer"),
    ({"epochs": "all"}, TypeError, "epochs must be a positive integer"),
    ({"selection": "best"}, ValueError, "selection must be one of 'generated', 'held_out'"),
    ({"carry_state": 1}, TypeError, "carry_state must be True or False"),
    ({"calibrate": "yes"}, TypeError, "calibrate must be True or False"),
    ({"validation_fraction": 1.0}, ValueError,
     r"validation_fraction must be a number in \[0, 1\)"),
    ({"n_states": 1}, ValueError, "n_states must be at least 2"),
    ({"device": "tpu9"}, ValueError, "device 'tpu9'"),
])
def test_bad_parameters_fail_before_training(chain, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        LSTMEstimator(**{**SMALL, **kwargs}).fit(chain)


def test_bad_data():
    est = LSTMEstimator(**SMALL)
    with pytest.raises(ValueError, match="seq_length\\+1 = 51"):
        est.fit(np.array([0, 1] * 20))
    with pytest.raises(ValueError, match="single state"):
        est.fit(np.zeros(500, dtype=int))
    with pytest.raises(TypeError, match="dtrajs must hold integer states"):
        est.fit(np.linspace(0, 1, 500))
    with pytest.raises(ValueError, match="dtrajs contains state -1"):
        est.fit(np.array([0, 1, -1] * 100))
    with pytest.raises(ValueError,
                       match=r"dtrajs\[1\] contains state 3, outside the alphabet 0..2"):
        LSTMEstimator(n_states=3, **SMALL).fit([np.zeros(100, int), np.full(100, 3)])
    with pytest.raises(TypeError, match="dtrajs must be a 1-D integer array or a list"):
        est.fit("0101")


_KILLED_RUN = """
import os, signal, sys
import numpy as np, torch
from mdlstm.train import LSTMEstimator
torch.set_num_threads(int(sys.argv[4]))
calls = {"n": 0}
original = torch.optim.Adam.step
def step(self, *args, **kwargs):
    calls["n"] += 1
    if calls["n"] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)   # no clean-up, like a node failure
    return original(self, *args, **kwargs)
torch.optim.Adam.step = step
LSTMEstimator(**eval(sys.argv[5])).fit(np.load(sys.argv[1]), checkpoint_dir=sys.argv[2])
"""

RESUMABLE = dict(embedding_dim=4, hidden_size=16, seq_length=20, batch_size=64, epochs=4,
                 device="cpu", seed=11)


def test_resume_after_sigkill_matches_uninterrupted_run(chain, tmp_path):
    import subprocess
    import sys

    data = chain[:3000]
    np.save(tmp_path / "data.npy", data)
    n_batches = (2700 - 1) // 20 // 64   # 134 carried windows of 21 states: 2 updates
    kill_at = 2 * n_batches + n_batches // 2   # in the middle of epoch 3
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(tmp_path / "data.npy"), str(tmp_path / "ckpt"),
         str(kill_at), str(torch.get_num_threads()), repr(RESUMABLE)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    saved = torch.load(tmp_path / "ckpt" / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 2

    resumed = LSTMEstimator(**RESUMABLE).fit(data, checkpoint_dir=tmp_path / "ckpt",
                                             resume=True)
    straight = LSTMEstimator(**RESUMABLE).fit(data)
    assert resumed.history["epoch"] == [1, 2, 3, 4]
    assert resumed.history["val_loss"] == straight.history["val_loss"]
    for (k, a), b in zip(resumed.fetch_model().network.state_dict().items(),
                         straight.fetch_model().network.state_dict().values()):
        assert torch.equal(a, b), k


def test_checkpoint_guards(chain, tmp_path):
    data = chain[:3000]
    est = LSTMEstimator(**{**RESUMABLE, "epochs": 1})
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        est.fit(data, resume=True)
    est.fit(data, checkpoint_dir=tmp_path)
    with pytest.raises(FileExistsError, match="checkpoint.pt exists; pass resume=True"):
        est.fit(data, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="belongs to another run"):
        est.fit(data[:2000], checkpoint_dir=tmp_path, resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read safely"):
        est.fit(data, checkpoint_dir=tmp_path, resume=True)


def _second_order_chain(n, seed):
    """3 states; the next is (s[t-1] + s[t-2]) mod 3 with probability 0.8."""
    rng = np.random.default_rng(seed)
    s = np.zeros(n, dtype=np.int64)
    s[:2] = rng.integers(0, 3, 2)
    u = rng.random(n)
    other = rng.integers(1, 3, n)
    for t in range(2, n):
        favoured = (s[t - 1] + s[t - 2]) % 3
        s[t] = favoured if u[t] < 0.8 else (favoured + other[t]) % 3
    return s


def _true_nll(held_out):
    """Mean log-loss of the exact second-order model on held_out[2:] (nats)."""
    favoured = (held_out[1:-1] + held_out[:-2]) % 3
    p = np.where(held_out[2:] == favoured, 0.8, 0.1)
    return -np.mean(np.log(p))


@pytest.mark.parametrize("memory", [True, False])
def test_lstm_learns_memory_beyond_a_markov_chain(memory):
    """Order-2 data: the LSTM beats order 1 and matches the true model within 2 %.
    Order-1 data: the LSTM and the order-1 Markov model tie."""
    from mdlstm.validate import markov_cross_entropy

    data = (_second_order_chain(30_000, seed=4) if memory
            else MarkovStateModel(P3).simulate(30_000, seed=4))
    train, held_out = data[:27_000], data[27_000:]
    model = LSTMEstimator(seed=0, **{**SMALL, "seq_length": 20}).fit(train).fetch_model()
    lstm = model.score(held_out[1:])   # predicts held_out[2:], like the order-2 models
    order1 = markov_cross_entropy([train], [held_out], order=1, n_states=3, skip=2)
    if memory:
        exact = _true_nll(held_out)
        assert lstm < order1 - 0.1
        assert abs(lstm - exact) / exact < 0.02
    else:
        assert abs(lstm - order1) < 0.01


# ------------------------------------------------------------------ transformer
TINY = dict(d_model=16, n_layers=1, n_heads=2, context_length=16, stride=4, device="cpu")


@pytest.fixture(scope="module")
def transformer(chain):
    return TransformerEstimator(epochs=8, seed=0, **TINY).fit(chain)


def test_transformer_learns_the_known_chain_with_the_lstm_loop(transformer):
    """The shared loop: shuffled windows of context_length, candidates chosen by
    their chains; populations within 0.02, transition probabilities within 12 %."""
    model = transformer.fetch_model()
    assert model.architecture == "transformer" and model.config.context_length == 16
    training = model.metadata["training"]
    assert training["carry_state"] is False and training["stride"] == 4
    assert training["context_length"] == 16 and "seq_length" not in training
    h = transformer.history
    assert [k for k, c in enumerate(h["candidate"]) if c] == [5, 6, 7]
    assert h["population_error"][h["kept"].index(True)] is not None
    gen = model.generate(4000, n_trajectories=64, seed=2)
    pop = np.bincount(gen.ravel(), minlength=3) / gen.size
    np.testing.assert_allclose(pop, MarkovStateModel(P3).stationary_distribution, atol=0.02)
    np.testing.assert_allclose(_transition_matrix(gen.astype(int), 3), P3, rtol=0.12)


def test_transformer_same_seed_same_model(chain):
    a, b, c = (TransformerEstimator(epochs=1, seed=s, **TINY).fit(chain[:3000]).fetch_model()
               for s in (5, 5, 6))
    for (k, va), vb in zip(a.network.state_dict().items(), b.network.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.network.head.weight, c.network.head.weight)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"context_length": 1}, ValueError, "context_length must be at least 2"),
    ({"d_model": 18, "n_heads": 4}, ValueError, r"d_model \(18\) must be n_heads \(4\)"),
    ({"n_heads": 2.0}, TypeError, "n_heads must be a positive integer"),
    ({"n_layers": 0}, ValueError, "n_layers must be a positive integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
    ({"learning_rate": 0}, ValueError, "learning_rate must be a positive"),
])
def test_transformer_bad_parameters_fail_before_training(chain, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TransformerEstimator(**{**TINY, **kwargs}).fit(chain)
    with pytest.raises(ValueError, match="has no parameter"):
        TransformerEstimator().set_params(hidden_size=8)


def test_transformer_windows_need_context_length_states():
    with pytest.raises(ValueError, match=r"context_length\+1 = 17"):
        TransformerEstimator(**TINY).fit(np.array([0, 1] * 9))
