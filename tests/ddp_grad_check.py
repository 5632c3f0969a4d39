"""Run one Trainer._step on a fixed group of batches and save the parameter change (SGD, lr 1: = -gradient).
Plain `python tests/ddp_grad_check.py OUT` runs single-process over all batches; under
`torchrun --nproc_per_node 2` each rank takes its share, exactly as the training loop does. Used by
tests/test_distributed.py to check DDP gradients equal the single-process full-batch gradients."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import distributed, hardware, model as model_lib
from engine.contract import config as config_lib  # noqa: E402
from engine.batching import Encoded  # noqa: E402
from engine.contract.events import EventWriter  # noqa: E402
from engine.tokenizer import train_bpe  # noqa: E402
from engine.train import Trainer  # noqa: E402


def main(out: str) -> None:
    cfg = config_lib.RunConfig()
    cfg.model.size, cfg.model.dropout = "tiny", 0.0
    cfg.train.schedule, cfg.train.lr, cfg.train.grad_clip, cfg.train.grad_accum = "constant", 1.0, 0.0, 2
    cfg.hardware.device, cfg.hardware.threads = "cpu", 1
    t = Trainer(cfg, Path(out), EventWriter(None))
    t.hw = hardware.resolve(cfg.hardware)
    t.dist = distributed.init("cpu")
    texts = [f"def f{i} ( x ) : return x + {i} * y" for i in range(40)] + [f"Add {i} times y to x ." for i in range(40)]
    tok = train_bpe(texts, 300)
    torch.manual_seed(0)
    t.model, t.meta = model_lib.build(cfg.model, tok, 64)
    t.ids = model_lib.special_ids(t.model)
    t.train_model = t.model
    if t.dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP
        t.train_model = DDP(t.model)
    src = tok(texts[:40])["input_ids"]
    tgt = [x + [tok.eos_token_id] for x in tok(texts[40:], add_special_tokens=False)["input_ids"]]
    t.train_enc = Encoded(src, tgt)
    t.optimizer = torch.optim.SGD(t.model.parameters(), lr=1.0)
    t.total_steps = 0
    before = {k: v.detach().clone() for k, v in t.model.state_dict().items()}
    # 4 batches of uneven lengths = one step of world 2 x accum 2 (or world 1 x accum 4)
    group = [[0, 1, 2], [3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13]]
    accum = len(group) // t.dist.world
    mine = group[t.dist.rank * accum:(t.dist.rank + 1) * accum]
    loss, n_tok, tokens = t._step(mine, 0.5)
    delta = {k: (t.model.state_dict()[k] - before[k]) for k in before}
    if t.dist.is_main:
        torch.save({"delta": delta, "loss": loss, "n_tok": n_tok, "tokens": tokens}, Path(out) / "delta.pt")
    t.dist.close()


if __name__ == "__main__":
    main(sys.argv[1])
