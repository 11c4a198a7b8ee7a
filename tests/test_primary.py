"""The BiLSTM classifier: bucketed one-way LSTMs equal a packed bidirectional LSTM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mt2st.tasks.primary import BiLSTMClassifier


def _packed_reference(model: BiLSTMClassifier, table, sentences) -> torch.Tensor:
    """The textbook model: one packed bidirectional nn.LSTM with the same weights; an empty
    sentence is one padding row (id 0)."""
    lstm = nn.LSTM(table.shape[1], model.hidden, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(lstm, name).copy_(getattr(model.forward_lstm, name))
            getattr(lstm, name + "_reverse").copy_(getattr(model.backward_lstm, name))
    rows = [s if s else [0] for s in sentences]
    lengths = torch.tensor([len(r) for r in rows])
    index = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
    for i, r in enumerate(rows):
        index[i, :len(r)] = torch.tensor(r)
    packed = nn.utils.rnn.pack_padded_sequence(table[index], lengths, batch_first=True,
                                               enforce_sorted=False)
    _, (h, _) = lstm(packed)
    return model.out(torch.cat([h[0], h[1]], dim=1))


def _flat(sentences):
    tokens = torch.tensor([t for s in sentences for t in s], dtype=torch.long)
    lengths = torch.tensor([len(s) for s in sentences])
    offsets = torch.cumsum(lengths, 0) - lengths
    return tokens, offsets, lengths


@pytest.mark.parametrize("n_sentences", [5, 200])  # one bucket; three buckets
def test_bilstm_equals_packed_bidirectional_lstm_with_gradients(n_sentences):
    g = torch.Generator().manual_seed(n_sentences)
    sentences = [torch.randint(1, 30, (int(n),), generator=g).tolist()
                 for n in torch.randint(0, 17, (n_sentences,), generator=g)]
    sentences[1] = []  # an empty sentence reads padding, not its neighbour's first token
    torch.manual_seed(0)
    model = BiLSTMClassifier(dim=12, n_classes=3, hidden=8)
    table = torch.randn(30, 12, requires_grad=True)
    ours = model(table, *_flat(sentences))
    (ours ** 2).sum().backward()
    grad_ours = table.grad.to_dense()
    table.grad = None
    reference = _packed_reference(model, table, sentences)
    (reference ** 2).sum().backward()
    assert torch.allclose(ours, reference, atol=1e-5)
    assert torch.allclose(grad_ours, table.grad, atol=1e-5)


def test_evaluation_buckets_give_the_training_buckets_outputs_bit_for_bit(monkeypatch):
    # evaluation mode splits a large batch into more, tighter buckets (less padding); each
    # sentence's logits must be the same bits as with the training mode's buckets, at the
    # paper's sizes (dim 100, 256 hidden) and SST-2-like lengths (1-52 tokens)
    g = torch.Generator().manual_seed(3)
    sentences = [torch.randint(1, 500, (int(n),), generator=g).tolist()
                 for n in torch.randint(1, 53, (1100,), generator=g)]
    torch.manual_seed(0)
    model = BiLSTMClassifier(dim=100, n_classes=2)
    table = torch.randn(500, 100)
    calls = []
    final_states = BiLSTMClassifier._final_states
    monkeypatch.setattr(BiLSTMClassifier, "_final_states",
                        lambda self, *a: calls.append(1) or final_states(self, *a))
    with torch.no_grad():
        model.eval()
        evaluation = model(table, *_flat(sentences))
        buckets_eval = len(calls)
        model.train()
        training = model(table, *_flat(sentences))
    assert (buckets_eval, len(calls) - buckets_eval) == (16, 8)
    assert torch.equal(evaluation, training)
