"""Tests of the transformer network (mdlstm._transformer) and of LSTMModel holding one."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mdlstm._transformer import _CachedStepper
from mdlstm.model import (FORMAT_VERSION, CharLSTM, CharTransformer, LSTMModel,
                          TransformerConfig, generate_together)

CONTEXT = 8


@pytest.fixture
def net():
    torch.manual_seed(0)
    return CharTransformer(5, d_model=16, n_layers=2, n_heads=2, context_length=CONTEXT).eval()


@pytest.fixture
def model(net):
    return LSTMModel(net, {"dt": 2.0, "state_counts": [4, 1, 3, 2, 5]}, device="cpu")


def _sequence(length, batch=3, seed=0):
    return torch.randint(0, 5, (batch, length), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ network
@torch.no_grad()
def test_cached_steps_give_the_full_forward_past_the_context(net):
    """The rolling cache, one state at a time, gives the logits of one causal forward."""
    seq = _sequence(5 * CONTEXT)
    expected, _ = net(seq)
    step = _CachedStepper(net, net.empty_cache(3))
    got = torch.stack([step(seq[None, :, t])[0] for t in range(seq.shape[1])], dim=1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # the same distributions of the next state
    torch.testing.assert_close(got.softmax(-1), expected.softmax(-1), rtol=0, atol=1e-6)
    # the cache holds context_length keys per layer however long the chain
    assert all(k.shape == (3, 2, CONTEXT, 8) for k in step.keys)


@torch.no_grad()
def test_cache_after_a_prompt_continues_it(net):
    seq = _sequence(3 * CONTEXT + 3)
    expected, _ = net(seq)
    _, cache = net(seq[:, :13])
    assert cache.position == 13 and cache.keys[0].shape[2] == CONTEXT - 1
    step = _CachedStepper(net, cache)
    got = torch.stack([step(seq[None, :, t])[0] for t in range(13, seq.shape[1])], dim=1)
    torch.testing.assert_close(got, expected[:, 13:], rtol=0, atol=1e-5)


@torch.no_grad()
def test_each_prediction_sees_the_last_context_length_states():
    """With one layer, the logits at t are those of the context window read alone:
    the band holds exactly context_length states, and positions are relative."""
    torch.manual_seed(2)
    one = CharTransformer(5, d_model=16, n_layers=1, n_heads=2, context_length=CONTEXT).eval()
    seq = _sequence(4 * CONTEXT, batch=2)
    full, _ = one(seq)
    for t in (CONTEXT - 1, CONTEXT + 3, 3 * CONTEXT + 5):
        window, _ = one(seq[:, t - CONTEXT + 1:t + 1])
        torch.testing.assert_close(full[:, t], window[:, -1], rtol=0, atol=1e-5)
    # a state just outside the window changes nothing
    changed = seq.clone()
    changed[:, 3 * CONTEXT + 5 - CONTEXT] = (changed[:, 3 * CONTEXT + 5 - CONTEXT] + 1) % 5
    torch.testing.assert_close(one(changed)[0][:, 3 * CONTEXT + 5], full[:, 3 * CONTEXT + 5],
                               rtol=0, atol=1e-5)


@torch.no_grad()
def test_forward_in_pieces_equals_forward_at_once(net):
    seq = _sequence(4 * CONTEXT + 1)
    whole, _ = net(seq)
    first, cache = net(seq[:, :11])
    second, _ = net(seq[:, 11:], cache)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"context_length": 1}, ValueError, "context_length must be at least 2"),
    ({"context_length": 2.0}, TypeError, "context_length must be a positive integer"),
    ({"d_model": 18, "n_heads": 4}, ValueError, r"d_model \(18\) must be n_heads \(4\) times"),
    ({"d_model": 12, "n_heads": 4}, ValueError, "even head width"),
    ({"n_heads": 0}, ValueError, "n_heads must be a positive integer"),
    ({"n_layers": True}, TypeError, "n_layers must be a positive integer"),
    ({"n_states": 1}, ValueError, "n_states must be at least 2"),
])
def test_bad_shapes_are_refused_naming_the_argument(kwargs, exc, match):
    args = {"n_states": 5, "d_model": 16, "n_heads": 2, **kwargs}
    with pytest.raises(exc, match=match):
        CharTransformer(**args)
    with pytest.raises(exc, match=match):
        TransformerConfig(**args)


def test_config_is_one_type_for_network_and_file(model, tmp_path):
    expected = TransformerConfig(n_states=5, d_model=16, n_layers=2, n_heads=2,
                                 context_length=CONTEXT)
    assert model.config == expected and model.architecture == "transformer"
    assert CharTransformer.from_config(expected).config == expected
    assert "2x16 transformer, 2 heads, context 8" in repr(model)
    assert model.embedding.shape == (5, 16)


# ------------------------------------------------------------------ generation
def test_generate_is_reproducible_with_a_seed(model):
    a = model.generate(3 * CONTEXT, n_trajectories=7, seed=3, mask=None)
    b = model.generate(3 * CONTEXT, n_trajectories=7, seed=3, mask=None)
    c = model.generate(3 * CONTEXT, n_trajectories=7, seed=4, mask=None)
    assert a.shape == (7, 3 * CONTEXT) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_follows_the_forward_pass_distribution(model):
    """After a prompt longer than the context, the first generated state
    follows the softmax of the full forward pass."""
    prompt = _sequence(2 * CONTEXT + 3, batch=1)[0].numpy()
    with torch.no_grad():
        logits, _ = model.network(torch.as_tensor(prompt)[None])
    probs = torch.softmax(logits[0, -1], 0).numpy()
    first = model.generate(1, n_trajectories=20_000, prompt=prompt, seed=1, mask=None)
    freq = np.bincount(first[:, 0], minlength=5) / len(first)
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_states_the_data_never_visited_are_never_generated(model):
    model.metadata["state_counts"] = [10, 0, 5, 0, 3]
    free = model.generate(500, n_trajectories=20, seed=0, mask=None)
    assert set(np.unique(free)) == {0, 1, 2, 3, 4}
    assert set(np.unique(model.generate(500, n_trajectories=20, seed=0))) == {0, 2, 4}


def test_streamed_generation_resumes_to_the_uninterrupted_chains(model, tmp_path,
                                                                 monkeypatch):
    expected = model.generate(50, n_trajectories=6, seed=9, chunk_steps=7)
    path = tmp_path / "gen.npy"
    step = _CachedStepper.__call__
    calls = {"n": 0}

    def failing(self, states):
        calls["n"] += 1
        if calls["n"] == 25:   # inside the fourth chunk of 7 steps
            raise KeyboardInterrupt
        return step(self, states)

    monkeypatch.setattr(_CachedStepper, "__call__", failing)
    with pytest.raises(KeyboardInterrupt):
        model.generate(50, n_trajectories=6, seed=9, out=path, chunk_steps=7)
    monkeypatch.undo()
    resumed = model.generate(50, n_trajectories=6, seed=9, out=path, resume=True, chunk_steps=7)
    np.testing.assert_array_equal(resumed, expected)


def test_generate_together_samples_transformers_one_after_another(model):
    torch.manual_seed(1)
    other = LSTMModel(CharTransformer(5, d_model=16, n_layers=2, n_heads=2,
                                      context_length=CONTEXT), device="cpu")
    starts = [np.tile([1, 2, 3], (4, 1)), np.tile([0, 4], (6, 1))]
    chains = generate_together([model, other], 30, starts, seed=9)
    assert [c.shape for c in chains] == [(4, 30), (6, 30)]
    np.testing.assert_array_equal(chains[0], model.generate(30, n_trajectories=4,
                                                            prompt=starts[0], seed=9))
    with pytest.raises(ValueError, match="one configuration"):
        generate_together([model, LSTMModel(CharLSTM(5), device="cpu")], 5, [[[0]], [[0]]])


# ------------------------------------------------------------------ scoring and files
def test_score_is_mean_cross_entropy_and_chunk_independent(model):
    traj = _sequence(10 * CONTEXT + 3, batch=1)[0].numpy()
    with torch.no_grad():
        logits, _ = model.network(torch.as_tensor(traj)[None])
    expected = torch.nn.functional.cross_entropy(logits[0, :-1],
                                                 torch.as_tensor(traj[1:])).item()
    assert model.score(traj) == pytest.approx(expected, rel=1e-6)
    assert model.score(traj, chunk=13) == pytest.approx(expected, rel=1e-5)


def test_save_load_roundtrip_names_the_architecture(model, tmp_path):
    path = tmp_path / "m.mdlstm"
    model.save(path)
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(json.loads(fh.read(size))["__metadata__"]["mdlstm"])
    assert header["architecture"] == "transformer" and header["format_version"] == 2
    loaded = LSTMModel.load(path, device="cpu")
    assert loaded.config == model.config and loaded.metadata == model.metadata
    np.testing.assert_array_equal(loaded.generate(20, n_trajectories=3, seed=1),
                                  model.generate(20, n_trajectories=3, seed=1))


def test_lstm_files_stay_those_of_format_1(tmp_path):
    """An LSTM file is written as before (format 1, no architecture), and a file of
    format 1 loads as an LSTM."""
    torch.manual_seed(0)
    lstm = LSTMModel(CharLSTM(5, embedding_dim=4, hidden_size=8), {"note": "x"}, device="cpu")
    lstm.save(tmp_path / "new.mdlstm")
    with open(tmp_path / "new.mdlstm", "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(json.loads(fh.read(size))["__metadata__"]["mdlstm"])
    assert header["format_version"] == 1 and "architecture" not in header
    old = {"format_version": 1, "mdlstm_version": "0.1.0",
           "config": dataclasses.asdict(lstm.config), "metadata": {"note": "x"}}
    save_file({k: v.contiguous() for k, v in lstm.network.state_dict().items()},
              tmp_path / "old.mdlstm", metadata={"mdlstm": json.dumps(old)})
    loaded = LSTMModel.load(tmp_path / "old.mdlstm", device="cpu")
    assert loaded.architecture == "lstm" and loaded.config == lstm.config
    assert FORMAT_VERSION == 2


def test_load_refuses_an_unknown_architecture(model, tmp_path):
    header = {"format_version": 2, "architecture": "mamba",
              "config": dataclasses.asdict(model.config), "metadata": {}}
    save_file({k: v.contiguous() for k, v in model.network.state_dict().items()},
              tmp_path / "m.mdlstm", metadata={"mdlstm": json.dumps(header)})
    with pytest.raises(ValueError, match="unknown architecture 'mamba'"):
        LSTMModel.load(tmp_path / "m.mdlstm")
