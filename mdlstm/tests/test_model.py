"""Tests of mdlstm.model: the network, sampling, scoring and safe model files."""

import dataclasses
import json
import os
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mdlstm.model import (FORMAT_VERSION, CharLSTM, LSTMConfig, LSTMModel, _Stepper,
                          prompts, resolve_device)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LSTMModel(CharLSTM(5, embedding_dim=4, hidden_size=16, n_layers=2),
                     {"dt": 2.0, "time_unit": "ps", "note": "x"}, device="cpu")


def test_stepper_matches_network_forward(model):
    seq = torch.tensor([[0, 3, 1, 4, 4, 2, 0, 1]])
    expected, _ = model.network(seq)
    step = _Stepper([model.network])
    zeros = torch.zeros(1, 1, 16)
    h, c = [zeros, zeros.clone()], [zeros.clone(), zeros.clone()]
    got = torch.stack([step(seq[None, :, t], h, c)[0] for t in range(seq.shape[1])], dim=1)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), atol=1e-6)


def test_stepper_of_several_networks_steps_each_as_its_own(model):
    """Stacked weights: every model's chains see only that model's network."""
    torch.manual_seed(1)
    other = CharLSTM(5, embedding_dim=4, hidden_size=16, n_layers=2)
    seqs = torch.tensor([[[0, 3, 1, 4, 4, 2]], [[2, 2, 1, 0, 3, 4]]])  # (model, chain, time)
    step = _Stepper([model.network, other])
    h = [torch.zeros(2, 1, 16) for _ in range(2)]
    c = [torch.zeros(2, 1, 16) for _ in range(2)]
    got = torch.stack([step(seqs[:, :, t], h, c) for t in range(seqs.shape[2])], dim=2)
    for k, net in enumerate((model.network, other)):
        expected, _ = net(seqs[k])
        np.testing.assert_allclose(got[k].numpy(), expected.detach().numpy(), atol=1e-6)


def test_generate_together_follows_each_model(model):
    """Sampled together, each model's first steps follow its own softmax; one model
    alone gives the chains of LSTMModel.generate."""
    from mdlstm.model import generate_together

    torch.manual_seed(1)
    other = LSTMModel(CharLSTM(5, embedding_dim=4, hidden_size=16, n_layers=2), device="cpu")
    prompt = np.array([1, 2, 3])
    tiled = [np.tile(prompt, (30_000, 1)), np.tile(prompt, (20_000, 1))]
    first = generate_together([model, other], 1, tiled, seed=1)
    assert [f.shape for f in first] == [(30_000, 1), (20_000, 1)]
    for m, chains in zip((model, other), first):
        with torch.no_grad():
            logits, _ = m.network(torch.tensor(prompt[None]))
        probs = torch.softmax(logits[0, -1], 0).numpy()
        freq = np.bincount(chains[:, 0], minlength=5) / len(chains)
        np.testing.assert_allclose(freq, probs, atol=0.015)
    starts = np.tile(prompt, (6, 1))
    alone = generate_together([model], 40, [starts], seed=9)[0]
    np.testing.assert_array_equal(alone, model.generate(40, n_trajectories=6, prompt=starts,
                                                        seed=9))


def test_generate_together_checks_its_arguments(model):
    from mdlstm.model import generate_together

    small = LSTMModel(CharLSTM(5, hidden_size=8), device="cpu")
    with pytest.raises(ValueError, match="one configuration"):
        generate_together([model, small], 5, [[[0]], [[0]]])
    with pytest.raises(ValueError, match="one prompt per model"):
        generate_together([model, model], 5, [[[0]]])
    with pytest.raises(ValueError, match=r"prompts\[0\] must be 2-D"):
        generate_together([model], 5, [[0, 1]])
    with pytest.raises(TypeError, match="list of LSTMModel"):
        generate_together([model.network], 5, [[[0]]])


def test_generate_shape_dtype_and_seed(model):
    a = model.generate(50, n_trajectories=7, seed=3)
    b = model.generate(50, n_trajectories=7, seed=3)
    c = model.generate(50, n_trajectories=7, seed=4)
    assert a.shape == (7, 50) and a.dtype == np.uint8
    assert a.min() >= 0 and a.max() < 5
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_follows_learned_probabilities(model):
    """Sampled next-state frequencies after a fixed prompt match the softmax."""
    prompt = np.array([1, 2, 3])
    with torch.no_grad():
        logits, _ = model.network(torch.tensor(prompt[None]))
    probs = torch.softmax(logits[0, -1], 0).numpy()
    first = model.generate(1, n_trajectories=40_000, prompt=prompt, seed=1)[:, 0]
    freq = np.bincount(first, minlength=5) / first.size
    np.testing.assert_allclose(freq, probs, atol=0.01)


def test_low_temperature_is_greedy(model):
    prompt = np.array([0, 4])
    g = model.generate(5, n_trajectories=3, prompt=prompt, temperature=1e-4, seed=0)
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(5):
            logits, _ = model.network(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
    for row in g:
        np.testing.assert_array_equal(row, seq[2:])


def test_per_chain_prompts(model):
    prompts = np.array([[0, 0, 0], [4, 4, 4]])
    g = model.generate(3, n_trajectories=2, prompt=prompts, seed=0)
    assert g.shape == (2, 3)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_steps": 0}, ValueError, "n_steps must be a positive integer"),
    ({"n_steps": 2.5}, TypeError, "n_steps must be a positive integer"),
    ({"n_steps": 5, "n_trajectories": 0}, ValueError, "n_trajectories"),
    ({"n_steps": 5, "temperature": 0}, ValueError, "temperature must be a positive"),
    ({"n_steps": 5, "temperature": float("nan")}, ValueError, "temperature"),
    ({"n_steps": 5, "prompt": [0, 7]}, ValueError, "prompt contains state 7, outside"),
    ({"n_steps": 5, "prompt": [0.5, 1.0]}, TypeError, "prompt must hold integer states"),
    ({"n_steps": 5, "prompt": []}, ValueError, "prompt must be a non-empty"),
    ({"n_steps": 5, "n_trajectories": 3, "prompt": np.zeros((2, 4), int)}, ValueError,
     "prompt has 2 rows but n_trajectories is 3"),
    ({"n_steps": 5, "seed": -1}, TypeError, "seed must be a non-negative integer"),
])
def test_generate_rejects_bad_input(model, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        model.generate(**kwargs)


def test_score_is_mean_cross_entropy_and_chunk_independent(model):
    rng = np.random.default_rng(0)
    trajs = [rng.integers(0, 5, 300), rng.integers(0, 5, 120)]
    with torch.no_grad():
        nll = [torch.nn.functional.cross_entropy(
            model.network(torch.tensor(t[None, :-1]))[0][0], torch.tensor(t[1:]),
            reduction="sum").item() for t in trajs]
    expected = sum(nll) / (299 + 119)
    assert model.score(trajs) == pytest.approx(expected, rel=1e-5)
    assert model.score(trajs, chunk=37) == pytest.approx(expected, rel=1e-5)


def test_save_load_roundtrip(model, tmp_path):
    path = tmp_path / "m.mdlstm"
    model.save(path)
    loaded = LSTMModel.load(path, device="cpu")
    assert loaded.config == model.config
    assert loaded.metadata == model.metadata
    seq = torch.tensor([[0, 1, 2, 3, 4]])
    with torch.no_grad():
        np.testing.assert_array_equal(loaded.network(seq)[0].numpy(),
                                      model.network(seq)[0].numpy())
    np.testing.assert_array_equal(loaded.generate(20, 4, seed=1), model.generate(20, 4, seed=1))
    assert [p.name for p in tmp_path.iterdir()] == ["m.mdlstm"]  # no temporary left


def test_save_refuses_existing_path(model, tmp_path):
    path = tmp_path / "m.mdlstm"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="m.mdlstm exists; pass overwrite=True"):
        model.save(path)
    assert path.read_text() == "precious"
    model.save(path, overwrite=True)
    assert LSTMModel.load(path).n_states == 5


def test_load_rejects_truncated_file(model, tmp_path):
    path = tmp_path / "m.mdlstm"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable mdlstm model file"):
        LSTMModel.load(path)


def test_load_rejects_newer_format(model, tmp_path):
    path = tmp_path / "m.mdlstm"
    header = {"format_version": FORMAT_VERSION + 1, "config": dataclasses.asdict(model.config),
              "metadata": {}}
    save_file({k: v.contiguous() for k, v in model.network.state_dict().items()}, path,
              metadata={"mdlstm": json.dumps(header)})
    with pytest.raises(ValueError, match="newer than this mdlstm"):
        LSTMModel.load(path)


def test_load_rejects_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LSTMModel.load(tmp_path / "nothing.mdlstm")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_load_never_unpickles(tmp_path):
    """A pickle with a code-executing payload is refused and never runs."""
    marker = tmp_path / "pwned"
    _Payload.marker = marker
    path = tmp_path / "evil.mdlstm"
    with open(path, "wb") as fh:
        pickle.dump({"weights": _Payload()}, fh)
    with pytest.raises(ValueError, match="not a readable mdlstm model file"):
        LSTMModel.load(path)
    assert not marker.exists()


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="is not a device name"):
        resolve_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(TypeError, match="device must be a string"):
        resolve_device(3)


def test_embedding_and_repr(model):
    assert model.embedding.shape == (5, 4)
    assert "5 states" in repr(model) and "2x16 LSTM" in repr(model)
    assert model.dt == 2.0


# ------------------------------------------------------------------ streaming
def test_streamed_generation_equals_in_memory(model, tmp_path):
    path = tmp_path / "gen.npy"
    streamed = model.generate(50, n_trajectories=6, seed=9, out=path, chunk_steps=7)
    in_memory = model.generate(50, n_trajectories=6, seed=9, chunk_steps=7)
    assert streamed.shape == (6, 50)
    np.testing.assert_array_equal(streamed, in_memory)
    np.testing.assert_array_equal(np.load(path).T, in_memory)
    with pytest.raises(FileExistsError, match="gen.npy exists; pass resume=True"):
        model.generate(50, n_trajectories=6, seed=9, out=path)


_KILLED_GENERATION = """
import os, signal, sys, torch
from mdlstm.model import LSTMModel, _Stepper
model = LSTMModel.load(sys.argv[1], device="cpu")
calls = {"n": 0}
step = _Stepper.__call__
def counting(self, *args):
    calls["n"] += 1
    if calls["n"] == 25:   # inside the fourth chunk of 7 steps
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *args)
_Stepper.__call__ = counting
model.generate(50, n_trajectories=6, seed=9, out=sys.argv[2], chunk_steps=7)
"""


def test_interrupted_generation_is_readable_and_resumes(model, tmp_path):
    import subprocess
    import sys

    from mdlstm.model import load_generated

    model.save(tmp_path / "m.mdlstm")
    path = tmp_path / "gen.npy"
    proc = subprocess.run([sys.executable, "-c", _KILLED_GENERATION, str(tmp_path / "m.mdlstm"),
                           str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    expected = model.generate(50, n_trajectories=6, seed=9, chunk_steps=7)
    partial = load_generated(path)
    assert partial.shape == (6, 21)   # three complete chunks
    np.testing.assert_array_equal(partial, expected[:, :21])
    with pytest.raises(ValueError, match="other settings or another model"):
        model.generate(50, n_trajectories=6, seed=10, out=path, resume=True, chunk_steps=7)
    resumed = model.generate(50, n_trajectories=6, seed=9, out=path, resume=True, chunk_steps=7)
    np.testing.assert_array_equal(resumed, expected)
    np.testing.assert_array_equal(load_generated(path), expected)


def test_resume_needs_out(model):
    with pytest.raises(ValueError, match="resume=True needs out"):
        model.generate(5, resume=True)


def test_states_the_data_never_visited_are_never_generated(model):
    model.metadata.update(state_counts=[10, 0, 5, 0, 3],
                          transitions=[[0, 2], [2, 0], [2, 4], [4, 2]])
    free = model.generate(3000, n_trajectories=20, seed=0, mask=None)
    assert set(np.unique(free)) == {0, 1, 2, 3, 4}   # the untrained net visits all
    states = model.generate(3000, n_trajectories=20, seed=0, mask="states")
    assert set(np.unique(states)) == {0, 2, 4}
    moves = model.generate(3000, n_trajectories=20, seed=0)   # mask="transitions"
    pairs = {(a, b) for row in moves.astype(int) for a, b in zip(row[:-1], row[1:]) if a != b}
    assert pairs == {(0, 2), (2, 0), (2, 4), (4, 2)}
    # a prompt ending in an unvisited state still continues
    assert model.generate(5, n_trajectories=2, prompt=[1, 3], seed=0).max() < 5
    with pytest.raises(ValueError, match="mask must be 'states', 'transitions' or None"):
        model.generate(5, mask="pairs")


def test_prompts_are_evenly_spaced_windows_inside_trajectories():
    trajs = [np.arange(10), 100 + np.arange(5)]
    got = prompts(trajs, 4, 3)
    # windows 0..7 of the first trajectory, then 0..2 of the second: 11 in all
    np.testing.assert_array_equal(got[:, 0], [0, 3, 7, 102])
    assert np.all(np.diff(got, axis=1) == 1)
    assert prompts(np.arange(4), 2, 10).shape == (2, 4)   # shortened to the trajectory
    with pytest.raises(ValueError, match="n must be a positive integer"):
        prompts(trajs, 0, 3)


def test_config_is_one_type_for_network_and_file(model, tmp_path):
    assert model.config == LSTMConfig(n_states=5, embedding_dim=4, hidden_size=16, n_layers=2)
    assert CharLSTM.from_config(model.config).config == model.config
    model.save(tmp_path / "m.mdlstm")
    assert LSTMModel.load(tmp_path / "m.mdlstm").config == model.config
    with pytest.raises(ValueError, match="bad network configuration"):
        LSTMConfig.from_dict({"n_states": 5, "hidden_size": 16})


def test_a_uniform_of_zero_never_picks_a_masked_state(model, monkeypatch):
    import mdlstm.model

    model.metadata.update(state_counts=[0, 4, 4, 0, 4], transitions=[[1, 2], [2, 4], [4, 1]])
    monkeypatch.setattr(mdlstm.model.torch, "rand", lambda *shape, **kw: torch.zeros(*shape))
    for mask in ("states", "transitions"):
        chains = model.generate(50, n_trajectories=3, prompt=[2], seed=0, mask=mask)
        assert not np.isin(chains, [0, 3]).any()
