"""Run one engine.step.train_step on a fixed group of batches and save the parameter change (SGD, lr 1:
= -gradient). Plain `python tests/ddp_grad_check.py OUT` runs single-process over all batches; under
`torchrun --nproc_per_node 2` each rank takes its share, exactly as the training loop does. Used by
tests/test_distributed.py to check DDP gradients equal the single-process full-batch gradients."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import distributed, hardware, model as model_lib  # noqa: E402
from engine.batching import BatchPlan, Encoded  # noqa: E402
from engine.contract import config as config_lib  # noqa: E402
from engine.session import Session, place_model  # noqa: E402
from engine.step import train_step  # noqa: E402
from engine.tokenizer import train_bpe  # noqa: E402


def main(out: str) -> None:
    cfg = config_lib.RunConfig()
    cfg.model.size, cfg.model.dropout = "tiny", 0.0
    cfg.train.schedule, cfg.train.lr, cfg.train.grad_clip, cfg.train.grad_accum = "constant", 1.0, 0.0, 2
    cfg.hardware.device, cfg.hardware.threads = "cpu", 1
    hw = hardware.resolve(cfg.hardware)
    dist = distributed.init("cpu")
    texts = [f"def f{i} ( x ) : return x + {i} * y" for i in range(40)] + [f"Add {i} times y to x ." for i in range(40)]
    tok = train_bpe(texts, 300)
    torch.manual_seed(0)
    model, meta = model_lib.build(cfg.model, tok, 64)
    src = tok(texts[:40])["input_ids"]
    tgt = [x + [tok.eos_token_id] for x in tok(texts[40:], add_special_tokens=False)["input_ids"]]
    s = Session(cfg=cfg, run_dir=Path(out), hw=hw, dist=dist, model=model, train_model=place_model(model, hw, dist),
                tokenizer=tok, meta=meta, ids=model_lib.special_ids(model), train_enc=Encoded(src, tgt),
                train_lengths=[0] * len(src), optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # 4 batches of uneven lengths = one step of world 2 x accum 2 (or world 1 x accum 4)
    group = [[0, 1, 2], [3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13]]
    accum = len(group) // dist.world
    mine = BatchPlan([], 1, 0, accum, dist.world, dist.rank).mine(group)
    r = train_step(s, mine, 1.0)
    delta = {k: (model.state_dict()[k] - before[k]) for k in before}
    if dist.is_main:
        torch.save({"delta": delta, "loss": r.loss_sum, "n_tok": r.n_tok, "tokens": r.tokens}, Path(out) / "delta.pt")
    distributed.leave()


if __name__ == "__main__":
    main(sys.argv[1])
