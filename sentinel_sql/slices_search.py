"""Slice finding, step 2: exact level-wise SliceLine search in DuckDB SQL.

Tables (temporary, unique to one call, dropped at the end):

- ``l1``: one scan of the source with ``GROUP BY GROUPING SETS ((), (k0), (k1), ...)`` — the
  totals and every level-1 slice (feature = value) with ``size >= sigma``. Each kept value
  gets a code ``v1 = 1, 2, ...`` in value order (NULL last).
- ``enc``: the rows re-encoded as one small integer code column per feature (``c<j>``, code
  ``0`` for values no slice can use) and the error. Rows with fewer than two non-zero codes
  are dropped (they are in no slice of level >= 2). Bounded by rows x features bytes.
- ``lvl<L>``: the evaluated slices of level L with ``size >= sigma``: ``f1, v1, ..., fL, vL``
  (feature index ascending, code), ``size, se, me`` (error sum; for level 1 the max error,
  above it the smallest max of the parents, a bound), ``score``, ``ub``.
- ``cand``: level-L candidates, generated in SQL from pairs of level L-1 slices sharing their
  first L-2 predicates (apriori join), kept only when all L parents are alive.

Pruning (never changes the answer). Let ``thr`` be the k-th best score found so far (0 when
fewer than k slices have a positive score); a slice is *alive* when ``ub >= thr - margin``.

1. Support: a child's rows are a subset of each parent's rows, so its size is at most the
   smallest parent size; slices below ``sigma`` are never stored, so their children are never
   generated.
2. Score bound: any slice S' inside S (in particular every descendant) with ``|S'| = s'``
   has ``se' <= min(se_S, s'·max_S)`` (errors are >= 0), hence
   ``score(S') <= g(s') = α·(min(se_S/s', max_S)/ē − 1) − (1−α)·(n/s' − 1)``, for
   ``s'`` in ``[sigma, |S|]``. ``g`` increases up to ``s' = se_S/max_S`` and is monotone
   after it, so its maximum is at ``sigma``, ``|S|`` or that point clamped: ``ub(S)`` is the
   largest of the three. If ``ub(S) < thr`` no descendant can enter the top k (nor have a
   positive score, as ``thr >= 0``). ``thr`` only grows, so a slice pruned stays prunable.
   A candidate is evaluated only if ``ub(min parent size, min parent se, min parent max)``
   (a bound for it and all its descendants, being inside every parent) is ``>= thr``.
   ``margin = 1e-9·max(1, |thr|)`` absorbs floating-point rounding (pruning less, not more).

Evaluation. Candidates are evaluated a batch at a time, highest bound first, so the threshold
rises between batches. A batch is up to ``PASSES`` passes over the encoded rows: one
``GROUP BY`` of a set of feature code columns chosen by ``slices_cover.plan_passes`` to cover
many candidate feature combinations at once, kept within ``HT_BITS`` bits so that DuckDB
uses its perfect-hash aggregate (the setting ``perfect_ht_threshold`` is raised to
``HT_BITS`` for the call and restored after); the small result is rolled up to every covered
combination and joined to the candidates. Levels >= 3 with many combinations first renumber
the codes their candidates use (``_recode``) so that more features fit in a pass.
Level >= 2 slices store as ``me`` the smallest max error of their parents (a sound bound,
cheaper than a ``max`` per pass); the slices returned get their exact max in one last scan.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .slices_cover import plan_passes
from .slices_prep import Feature, sql_double
from .sqlutil import quote_ident

_counter = itertools.count()
PASSES = 16  # GROUP BY passes over the encoded rows per query (the threshold rises between)
PARTS = 400  # ... and at most about this many combinations read back from them
WIDER = 9  # a pass groups by at most level + WIDER features ...
HT_BITS = 20  # ... whose code bits add up to at most this: DuckDB's perfect hash aggregate
RECODE_FROM = 64  # feature combinations in a level (>= 3) from which its codes are renumbered


def margin(thr: float) -> float:
    return 1e-9 * max(1.0, abs(thr))


def score(size: int, se: float, n: int, ebar: float, alpha: float) -> float:
    """SliceLine score, exactly DESIGN.md: α·((se/|S|)/ē − 1) − (1 − α)·(n/|S| − 1)."""
    return alpha * ((se / size) / ebar - 1) - (1 - alpha) * (n / size - 1)


@dataclass
class Found:
    """One slice of the answer: (feature index, key) predicates and its statistics."""

    preds: list[tuple[int, Any]]
    size: int
    se: float
    me: float
    score: float


@dataclass
class SearchOutcome:
    rows: int
    error_sum: float
    max_error: float
    slices: list[Found] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)


class Search:
    """One run of the search on one connection. ``run()`` drops every temp object it made.

    ``from_sql()`` returns a fresh FROM item for each scan of the source (two scans: level 1
    and the encoding).
    """

    def __init__(self, con: Any, from_sql: Callable[[], str], valid_sql: str, err_sql: str,
                 features: list[Feature], *, sigma: int, alpha: float, top_k: int,
                 max_level: int) -> None:
        self.con, self.from_sql, self.valid_sql, self.err_sql = con, from_sql, valid_sql, err_sql
        self.features, self.sigma, self.alpha = features, sigma, alpha
        self.top_k, self.max_level = top_k, min(max_level, len(features))
        self.p = f"__sl{next(_counter)}_"
        self.made: list[tuple[str, str]] = []
        self.levels_done = 0

    # -- names and SQL helpers -------------------------------------------------------------
    def t(self, name: str) -> str:
        return quote_ident(self.p + name)

    def _sql(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def _table(self, name: str, select: str, params: list | dict | None = None) -> None:
        self._sql(f"CREATE OR REPLACE TEMP TABLE {self.t(name)} AS {select}", params)
        if ("TABLE", name) not in self.made:
            self.made.append(("TABLE", name))

    def _macros(self, n: int, ebar: float) -> None:
        a, e = sql_double(self.alpha), sql_double(ebar)
        nn, sg = sql_double(n), sql_double(self.sigma)
        g = self.t("g")
        self._sql(f"CREATE OR REPLACE TEMP MACRO {self.t('score')}(s, se) AS "
                  f"{a} * ((se / s) / {e} - 1) - (1 - {a}) * ({nn} / s - 1)")
        self._sql(f"CREATE OR REPLACE TEMP MACRO {g}(x, se, me) AS "
                  f"{a} * (least(se / x, me) / {e} - 1) - (1 - {a}) * ({nn} / x - 1)")
        self._sql(
            f"CREATE OR REPLACE TEMP MACRO {self.t('ub')}(s, se, me) AS greatest("
            f"{g}({sg}, se, me), {g}(s, se, me), "
            f"{g}(CASE WHEN me > 0 THEN least(greatest(se / me, {sg}), s) ELSE {sg} END, se, me))"
        )
        self.made += [("MACRO", "score"), ("MACRO", "g"), ("MACRO", "ub")]

    def threshold(self) -> float:
        union = " UNION ALL ".join(
            f"SELECT score FROM {self.t(f'lvl{L}')}" for L in range(1, self.levels_done + 1)
        )
        rows = self._sql(f"SELECT score FROM ({union}) WHERE score > 0 "
                         f"ORDER BY score DESC LIMIT 1 OFFSET {int(self.top_k) - 1}")
        return max(0.0, float(rows[0][0])) if rows else 0.0

    def cut(self) -> float:
        thr = self.threshold()
        return thr - margin(thr)

    # -- the steps ---------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        old = None
        try:
            old = self._sql("SELECT current_setting('perfect_ht_threshold')")[0][0]
            self._sql(f"SET perfect_ht_threshold = {HT_BITS}")
        except Exception:  # pragma: no cover - a DuckDB without this setting: slower, same answer
            old = None
        try:
            return self._run()
        finally:
            if old is not None:
                self._sql(f"SET perfect_ht_threshold = {int(old)}")
            for kind, name in reversed(self.made):
                try:
                    self._sql(f"DROP {kind} IF EXISTS {self.t(name)}")
                except Exception:  # pragma: no cover - best effort cleanup
                    pass

    def _run(self) -> SearchOutcome:
        n, se_total, me_total = self._level1()
        if not (math.isfinite(se_total) and math.isfinite(me_total)):
            raise InputError("errors are not finite (infinite label, prediction or error values)")
        out = SearchOutcome(n, se_total, me_total)
        if n == 0 or se_total <= 0:
            out.candidates = [self.n_level1]
            return out
        self._macros(n, se_total / n)
        self._table("lvl1", f"SELECT f1, v1, size, se, me, {self.t('score')}(size, se) AS score, "
                            f"{self.t('ub')}(size, se, me) AS ub FROM {self.t('l1')} WHERE f1 >= 0")
        self.levels_done = 1
        out.candidates.append(self.n_level1)
        if self.max_level >= 2:
            encoded = self._encode()
            for level in range(2, self.max_level + 1):
                if not encoded:
                    break
                out.candidates.append(self._level(level))
                self.levels_done = level
        out.slices = self._answer(n, se_total / n)
        return out

    def _level1(self) -> tuple[int, float, float]:
        feats = self.features
        keys = ", ".join(f"{f.key_sql()} AS k{i}" for i, f in enumerate(feats))
        fid = " ".join(f"WHEN GROUPING(k{i}) = 0 THEN {i}" for i in range(len(feats)))
        sets = ", ".join(f"(k{i})" for i in range(len(feats)))
        order = ", ".join(f"k{i} NULLS LAST" for i in range(len(feats)))
        kcols = ", ".join(f"k{i}" for i in range(len(feats)))
        grouped = (
            f"SELECT CASE {fid} ELSE -1 END AS f1, count(*) AS size, sum(err) AS se, "
            f"max(err) AS me, {kcols} FROM (SELECT {keys}, {self.err_sql} AS err "
            f"FROM {self.from_sql()} WHERE {self.valid_sql}) "
            f"GROUP BY GROUPING SETS ((), {sets})"
        )
        self._table("l1", f"SELECT f1, CASE WHEN f1 >= 0 THEN row_number() OVER "
                          f"(PARTITION BY f1 ORDER BY {order}) END AS v1, size, se, me, {kcols} "
                          f"FROM ({grouped}) WHERE size >= {int(self.sigma)} OR f1 = -1")
        total = self._sql(f"SELECT size, se, me FROM {self.t('l1')} WHERE f1 = -1")
        self.n_level1 = self._sql(f"SELECT count(*) FROM {self.t('l1')} WHERE f1 >= 0")[0][0]
        if not total:
            return 0, 0.0, 0.0
        n, se, me = total[0]
        return int(n), float(se or 0.0), float(me or 0.0)

    def _encode(self) -> list[int]:
        """Build ``enc``; return the indexes of the features that got a code column."""
        lvl1 = self.t("lvl1")
        cut = self.cut()
        rows = self._sql(f"SELECT f1, max(v1) FROM {lvl1} WHERE ub >= ? GROUP BY f1 ORDER BY f1",
                         [cut])
        # DuckDB's perfect hash aggregate takes bit_length(max - min) + 1 bits per column
        self.top = {int(f): int(top) for f, top in rows}
        self.card = {f: 1 << (top.bit_length() + 1) for f, top in self.top.items()}
        if len(rows) < 2:
            return []
        cols, joins = [], []
        for f, top in rows:
            ctype = "UTINYINT" if top < 256 else "USMALLINT" if top < 65536 else "UINTEGER"
            cols.append(f"COALESCE(d{f}.v1, 0)::{ctype} AS c{f}")
            joins.append(f"LEFT JOIN (SELECT k{f} AS key, v1 FROM {self.t('l1')} WHERE f1 = {f} "
                         f"AND v1 IN (SELECT v1 FROM {lvl1} WHERE f1 = {f} AND ub >= $cut)) d{f} "
                         f"ON s.k{f} IS NOT DISTINCT FROM d{f}.key")
        keys = ", ".join(f"{self.features[f].key_sql()} AS k{f}" for f, _ in rows)
        enough = " + ".join(f"(c{f} > 0)::INTEGER" for f, _ in rows)
        self._table("enc", f"SELECT * FROM (SELECT {', '.join(cols)}, s.err FROM "
                           f"(SELECT {keys}, {self.err_sql} AS err FROM {self.from_sql()} "
                           f"WHERE {self.valid_sql}) s {' '.join(joins)}) WHERE {enough} >= 2",
                    {"cut": cut})
        return [f for f, _ in rows]

    def _generate(self, level: int) -> None:
        prev = self.t(f"lvl{level - 1}")
        L = level
        if L == 2:
            sel = ["p.f1 AS f1", "p.v1 AS v1", "q.f1 AS f2", "q.v1 AS v2"]
            src = f"{prev} p JOIN {prev} q ON p.f1 < q.f1"
            others: list[str] = []
        else:
            elems = [(f"p.f{i}", f"p.v{i}") for i in range(1, L)] + [(f"q.f{L-1}", f"q.v{L-1}")]
            sel = [f"{f} AS f{i}, {v} AS v{i}" for i, (f, v) in enumerate(elems, 1)]
            on = [f"p.f{i} = q.f{i} AND p.v{i} = q.v{i}" for i in range(1, L - 1)]
            src = f"{prev} p JOIN {prev} q ON {' AND '.join(on)} AND p.f{L-1} < q.f{L-1}"
            others = []
            for drop in range(L - 2):  # parents without element `drop` (0-based)
                rest = [e for j, e in enumerate(elems) if j != drop]
                cond = " AND ".join(f"r{drop}.f{j} = {f} AND r{drop}.v{j} = {v}"
                                    for j, (f, v) in enumerate(rest, 1))
                src += f" JOIN {prev} r{drop} ON {cond} AND r{drop}.ub >= $cut"
                others.append(f"r{drop}")
        parents = ["p", "q", *others]
        stats = ", ".join(f"least({', '.join(f'{a}.{s}' for a in parents)}) AS p{s}"
                          for s in ("size", "se", "me"))
        inner = (f"SELECT {', '.join(sel)}, {stats} FROM {src} "
                 f"WHERE p.ub >= $cut AND q.ub >= $cut")
        self._table("cand", f"SELECT *, {self.t('ub')}(psize, pse, pme) AS pub FROM ({inner}) "
                            f"WHERE {self.t('ub')}(psize, pse, pme) >= $cut", {"cut": self.cut()})

    def _level(self, level: int) -> int:
        L = level
        fs = ", ".join(f"f{i}" for i in range(1, L + 1))
        self._sql(f"CREATE OR REPLACE TEMP TABLE {self.t(f'lvl{L}')} (" +
                  ", ".join(f"f{i} INTEGER, v{i} INTEGER" for i in range(1, L + 1)) +
                  ", size BIGINT, se DOUBLE, me DOUBLE, score DOUBLE, ub DOUBLE)")
        self.made.append(("TABLE", f"lvl{L}"))
        self._generate(L)
        cand, lvl = self.t("cand"), self.t(f"lvl{L}")
        table, card, key = self._recode(L)
        done: set[tuple[int, ...]] = set()
        evaluated = 0
        self.levels_done = L  # lvl<L> is empty so far: the threshold is unchanged
        while True:
            cut = self.cut()
            combos = self._sql(f"SELECT {fs}, count(*) FROM {cand} WHERE pub >= ? "
                               f"GROUP BY {fs} ORDER BY max(pub) DESC, {fs}", [cut])
            counts = {tuple(c[:L]): c[L] for c in combos}
            todo = [k for k in counts if k not in done]
            ks = ", ".join(f"{key}{i}" for i in range(1, L + 1))
            if not todo:
                break
            passes = plan_passes(todo, card, width=L + WIDER, limit=1 << HT_BITS,
                                 max_passes=PASSES)
            parts, combos_read = [], 0
            for feats, covered in passes:
                if parts and combos_read + len(covered) > PARTS:
                    break
                combos_read += len(covered)
                for combo in covered:
                    done.add(combo)
                    evaluated += counts[combo]
                parts.append(self._pass_sql(feats, covered, table, key))
            pairs = ", ".join(f"c.f{i}, c.v{i}" for i in range(1, L + 1))
            ub = self.t("ub")
            self._sql(
                f"INSERT INTO {lvl} SELECT {pairs}, r.size, r.se, c.pme, "
                f"{self.t('score')}(r.size, r.se), {ub}(r.size, r.se, c.pme) FROM {cand} c "
                f"JOIN ({' UNION ALL '.join(parts)}) r USING ({fs}, {ks}) "
                f"WHERE c.pub >= ?", [cut])
        return evaluated

    def _pass_sql(self, feats: tuple[int, ...], covered: list[tuple[int, ...]],
                  table: str, key: str) -> str:
        """SQL of one pass: ``f1, <key>1, ..., size, se`` of every covered combination.

        One ``GROUP BY`` of the pass's features over the rows; its small result is crossed
        with a ``VALUES`` list of the covered combinations (their features and the positions
        of their codes) and rolled up by one more ``GROUP BY``.
        """
        L, sigma = len(covered[0]), int(self.sigma)
        cols = ", ".join(f"c{f}" for f in feats)
        if len(feats) == L:
            outs = ", ".join(f"{f} AS f{i}, c{f} AS {key}{i}" for i, f in enumerate(feats, 1))
            return (f"SELECT {outs}, count(*) AS size, sum(err) AS se FROM {table} "
                    f"GROUP BY {cols} HAVING count(*) >= {sigma}")
        where = {f: i for i, f in enumerate(feats, 1)}
        rows = ", ".join("(" + ", ".join(f"{f}, {where[f]}" for f in combo) + ")"
                         for combo in covered)
        names = ", ".join(f"f{i}, p{i}" for i in range(1, L + 1))
        picks = ", ".join(f"m.f{i}, g.codes[m.p{i}] AS {key}{i}" for i in range(1, L + 1))
        return (f"SELECT {picks}, sum(g.size)::BIGINT AS size, sum(g.se) AS se FROM "
                f"(SELECT [{cols}] AS codes, count(*) AS size, sum(err) AS se FROM {table} "
                f"GROUP BY {cols}) g CROSS JOIN (VALUES {rows}) m({names}) "
                f"GROUP BY ALL HAVING sum(g.size) >= {sigma}")

    def _recode(self, L: int) -> tuple[str, dict[int, int], str]:
        """The rows a level's passes read, their code ranges, and the candidates' code column.

        Level 2 (and a level with few combinations) reads ``enc``. Above, the codes the level's
        candidates use are renumbered ``1..k`` per feature (``w`` columns of ``cand``; every
        other code becomes 0) in a narrower copy ``enc<L>`` without the rows having fewer than
        L non-zero codes: fewer
        bits per column let one perfect-hash pass cover many more combinations.
        """
        cand = self.t("cand")
        fs = ", ".join(f"f{i}" for i in range(1, L + 1))
        combos = self._sql(f"SELECT count(*) FROM (SELECT DISTINCT {fs} FROM {cand})")[0][0]
        if L == 2 or combos <= RECODE_FROM:
            return self.t("enc"), self.card, "v"
        union = " UNION ".join(f"SELECT f{i} AS f, v{i} AS v FROM {cand}" for i in range(1, L + 1))
        self._table("map", f"SELECT f, v, row_number() OVER (PARTITION BY f ORDER BY v) AS w "
                           f"FROM ({union})")
        used = self._sql(f"SELECT f, list(v ORDER BY v) FROM {self.t('map')} GROUP BY f "
                         f"ORDER BY f")
        if not used:  # no candidate: nothing will be read
            return self.t("enc"), self.card, "v"
        cols, card = [], {}
        for f, codes in used:
            w = {int(v): i for i, v in enumerate(codes, 1)}
            table = ", ".join(str(w.get(c, 0)) for c in range(self.top[f] + 1))
            ctype = "UTINYINT" if len(w) < 256 else "USMALLINT" if len(w) < 65536 else "UINTEGER"
            cols.append(f"[{table}][c{f}::INTEGER + 1]::{ctype} AS c{f}")
            card[int(f)] = 1 << (len(w).bit_length() + 1)
        enough = " + ".join(f"(c{f} > 0)::INTEGER" for f, _ in used)
        self._table(f"enc{L}", f"SELECT * FROM (SELECT {', '.join(cols)}, err "
                               f"FROM {self.t('enc')}) WHERE {enough} >= {L}")
        joins = " ".join(f"JOIN {self.t('map')} m{i} ON m{i}.f = c.f{i} AND m{i}.v = c.v{i}"
                         for i in range(1, L + 1))
        ws = ", ".join(f"m{i}.w AS w{i}" for i in range(1, L + 1))
        self._table("candw", f"SELECT c.*, {ws} FROM {cand} c {joins}")
        self._sql(f"DROP TABLE {cand}")
        self._sql(f"ALTER TABLE {self.t('candw')} RENAME TO {quote_ident(self.p + 'cand')}")
        return self.t(f"enc{L}"), card, "w"

    def _answer(self, n: int, ebar: float) -> list[Found]:
        thr = self.threshold()
        cut = thr - margin(thr)
        rows: list[tuple] = []
        for L in range(1, self.levels_done + 1):
            cols = ", ".join(f"f{i}, v{i}" for i in range(1, L + 1))
            for r in self._sql(f"SELECT {L}, size, se, me, {cols} FROM {self.t(f'lvl{L}')} "
                               f"WHERE score >= ?", [cut]):
                rows.append(r)
        found = []
        for r in rows:
            L, size, se, me = int(r[0]), int(r[1]), float(r[2]), float(r[3])
            sc = score(size, se, n, ebar, self.alpha)
            if sc > 0:
                preds = [(int(r[4 + 2 * i]), int(r[5 + 2 * i])) for i in range(L)]
                found.append(Found(preds, size, se, me, sc))
        found.sort(key=lambda s: (-s.score, -s.size, s.preds))
        found = found[: self.top_k]
        self._exact_max(found)
        self._decode(found)
        return found

    def _exact_max(self, found: list[Found]) -> None:
        """Levels >= 2 store a bound on the max error (the parents'); read the true one."""
        deep = [s for s in found if len(s.preds) > 1]
        for start in range(0, len(deep), 256):
            chunk = deep[start:start + 256]
            aggs = ", ".join(
                "max(err) FILTER (WHERE " + " AND ".join(f"c{f} = {v}" for f, v in s.preds) + ")"
                for s in chunk
            )
            row = self._sql(f"SELECT {aggs} FROM {self.t('enc')}")[0]
            for s, me in zip(chunk, row, strict=True):
                s.me = float(me)

    def _decode(self, found: list[Found]) -> None:
        """Replace codes by keys (values or bin numbers) read back from ``l1``."""
        pairs = sorted({p for s in found for p in s.preds})
        if not pairs:
            return
        kcols = ", ".join(f"k{i}" for i in range(len(self.features)))
        cond = " OR ".join(f"(f1 = {f} AND v1 = {v})" for f, v in pairs)
        keys = {(int(r[0]), int(r[1])): r[2 + int(r[0])]
                for r in self._sql(f"SELECT f1, v1, {kcols} FROM {self.t('l1')} WHERE {cond}")}
        for s in found:
            s.preds = [(f, keys[(f, v)]) for f, v in s.preds]
