"""How long a run has left (cramgui.run_state.RunState mixes this in): the training budget left from progress, the
final decoding still to come (from the dev evaluations' seconds per example, then from the decode progress events)
and the summary of the decoding in progress."""
from __future__ import annotations

from engine.contract.events import number


class RunEstimates:
    """The ETA part of RunState: reads `status`, `config`, `data_reports`, `evals`, `decode` and `done`, writes
    `status["remaining" | "train_eta" | "eval_eta" | "eta_seconds" | "decode"]`."""

    def _update_eta(self) -> None:
        """`train_eta` (the training budget left, from progress), `eval_eta` (the final decoding still to come) and
        their sum `eta_seconds`. The evaluation is estimated from the dev evaluations' seconds per example times
        the final split's examples, and once decoding has started from its own progress."""
        st = self.status
        budget = st.get("budget_seconds")
        elapsed = st.get("elapsed") or 0.0
        progress = st.get("progress") or 0.0
        st["remaining"] = max(0.0, budget - elapsed) if budget else None
        if st.get("phase") in ("test_decode", "finished") or self.decode:
            train = 0.0
        elif 0.0 < progress < 1.0 and elapsed > 0:
            train = elapsed * (1.0 - progress) / progress
        elif progress >= 1.0:
            train = 0.0
        else:
            train = st["remaining"]
        st["train_eta"] = train
        st["eval_eta"] = self._eval_eta()
        st["decode"] = self._decode_summary()
        if train is None:
            st["eta_seconds"] = None
        else:
            st["eta_seconds"] = train + (st["eval_eta"] or 0.0)

    def eval_examples(self) -> dict[str, int]:
        """Examples of the final split per language (the `data` events, capped by data.max_test)."""
        cfg = self.config if isinstance(self.config, dict) else {}
        split = str(((cfg.get("eval") or {}).get("split")) or "test")
        cap = number((cfg.get("data") or {}).get("max_test" if split == "test" else "max_valid")) or 0
        out: dict[str, int] = {}
        for d in self.data_reports:
            n = number(d.get("n"))
            if d.get("split") == split and n is not None:
                out[str(d.get("language") or "?")] = int(min(n, cap) if cap > 0 else n)
        return out

    def _seconds_per_example(self) -> float | None:
        """Decoding seconds per example: from the decode progress when it has started, else from the last dev
        evaluations (eval_seconds / n)."""
        for ev in reversed(list(self.decode.values())):
            done, total, eta = number(ev.get("done")), number(ev.get("total")), number(ev.get("eta_seconds"))
            if done and total and eta is not None and total > done:
                return eta / (total - done)
        rates = [number(e.get("eval_seconds")) / number(e.get("n")) for e in self.evals[-3:]
                 if number(e.get("eval_seconds")) is not None and number(e.get("n"))]
        return sum(rates) / len(rates) if rates else None

    def _eval_eta(self) -> float | None:
        if self.done is not None:
            return 0.0
        per = self._seconds_per_example()
        counts = self.eval_examples()
        left = 0.0
        for (lang, _split), ev in self.decode.items():
            total, done = number(ev.get("total")) or 0, number(ev.get("done")) or 0
            eta = number(ev.get("eta_seconds"))
            counts.pop(lang, None)
            if total > done:
                left += eta if eta is not None else (per or 0.0) * (total - done)
        if per is None:
            return left if self.decode else None
        return left + per * sum(counts.values())

    def _decode_summary(self) -> dict | None:
        """The decoding in progress: {language, split, done, total, eta_seconds} of the latest decode event, with
        `all_done` / `all_total` over every language decoded so far."""
        if not self.decode:
            return None
        last = list(self.decode.values())[-1]
        all_done = sum(int(number(e.get("done")) or 0) for e in self.decode.values())
        all_total = sum(int(number(e.get("total")) or 0) for e in self.decode.values())
        return {"language": last.get("language"), "split": last.get("split"),
                "done": int(number(last.get("done")) or 0), "total": int(number(last.get("total")) or 0),
                "eta_seconds": number(last.get("eta_seconds")), "all_done": all_done, "all_total": all_total,
                "languages": len(self.decode)}
