"""BSATN codecs compiled once per type.

Each type is turned into Python source for a decoder and an encoder (``exec``), so a value
is read by straight-line code: runs of fixed-width fields become one ``struct`` call,
nested fixed-width products are flattened into it, and a ``FixedSize`` row list of such
rows is unpacked with ``struct.iter_unpack`` in one C-level pass. The fast path does only
the checks that keep it safe (lengths against the buffer, bool and tag ranges); when it
fails for any reason, a slow checked walk re-reads the input to report exactly which
type failed at which byte offset (``DecodeError``).
"""

from __future__ import annotations

import struct
import uuid
from collections import namedtuple
from collections.abc import Callable, Sequence
from keyword import iskeyword
from operator import attrgetter
from typing import Any

from ..errors import DecodeError, EncodeError
from .types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    SumVariant,
)
from .values import ConnectionId, Identity, ScheduleAt, Some, SumValue, TimeDuration, Timestamp

__all__ = ["Codec", "decode", "encode", "explain_encode_failure", "get_codec"]

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[Any, bytearray], None]

_PRIM_FMT = {
    "Bool": "B", "I8": "b", "U8": "B", "I16": "h", "U16": "H", "I32": "i", "U32": "I",
    "I64": "q", "U64": "Q", "F32": "f", "F64": "d",
    "I128": "16s", "U128": "16s", "I256": "32s", "U256": "32s",
}  # fmt: skip
_BIG = {"I128": (16, True), "U128": (16, False), "I256": (32, True), "U256": (32, False)}

# Fast constructors for the value classes: skip the validating __init__ on the hot path.
_obj_new = object.__new__
_set_identity = Identity.__dict__["_value"].__set__
_set_connid = ConnectionId.__dict__["_value"].__set__
_set_ts = Timestamp.__dict__["_micros"].__set__
_set_dur = TimeDuration.__dict__["_micros"].__set__
_set_sched = ScheduleAt.__dict__["_value"].__set__


def _mk_identity(raw: bytes) -> Identity:
    o = _obj_new(Identity)
    _set_identity(o, int.from_bytes(raw, "little"))
    return o


#: Recently decoded identities by wire bytes. Rows repeat a few identities (the senders of a
#: chat, the owners of entities) and an ``Identity`` is immutable, so sharing one object is
#: safe and a dict hit costs a tenth of building it. Cleared when full, so it stays small.
_IDENTITIES: dict[bytes, Identity] = {}
_IDENTITY_CACHE_LIMIT = 4096
_identity_hit = _IDENTITIES.get


def _mk_identity_cached(raw: bytes) -> Identity:
    """``_mk_identity`` for a cache miss: build it and remember it."""
    o = _obj_new(Identity)
    _set_identity(o, int.from_bytes(raw, "little"))
    if len(_IDENTITIES) >= _IDENTITY_CACHE_LIMIT:
        _IDENTITIES.clear()
    _IDENTITIES[raw] = o
    return o


def _mk_connid(raw: bytes) -> ConnectionId:
    o = _obj_new(ConnectionId)
    _set_connid(o, int.from_bytes(raw, "little"))
    return o


def _mk_ts(micros: int) -> Timestamp:
    o = _obj_new(Timestamp)
    _set_ts(o, micros)
    return o


def _mk_dur(micros: int) -> TimeDuration:
    o = _obj_new(TimeDuration)
    _set_dur(o, micros)
    return o


def _mk_sched(value: TimeDuration | Timestamp) -> ScheduleAt:
    o = _obj_new(ScheduleAt)
    _set_sched(o, value)
    return o


def _mk_uuid(raw: bytes) -> uuid.UUID:
    return uuid.UUID(int=int.from_bytes(raw, "little"))


class _Fail(Exception):
    """Raised by generated code for a semantic failure (bad bool, bad tag, short buffer)."""


def _check_bool(v: int) -> bool:
    if v > 1:
        raise _Fail("bool byte is not 0 or 1")
    return v == 1


# ---- encoding helpers used by generated encoders --------------------------------------------


def _identity_bytes(v: Any) -> bytes:
    if type(v) is Identity:
        return v.to_bytes()
    raise TypeError(f"expected Identity, got {type(v).__name__}")


def _connid_bytes(v: Any) -> bytes:
    if type(v) is ConnectionId:
        return v.to_bytes()
    if v is None:
        return bytes(16)
    raise TypeError(f"expected ConnectionId, got {type(v).__name__}")


def _ts_micros(v: Any) -> int:
    if type(v) is Timestamp:
        return v.micros_since_epoch
    import datetime as _dt

    if isinstance(v, _dt.datetime):
        return Timestamp.from_datetime(v).micros_since_epoch
    raise TypeError(f"expected Timestamp or aware datetime, got {type(v).__name__}")


def _dur_micros(v: Any) -> int:
    if type(v) is TimeDuration:
        return v.micros
    import datetime as _dt

    if isinstance(v, _dt.timedelta):
        return TimeDuration.from_timedelta(v).micros
    raise TypeError(f"expected TimeDuration or timedelta, got {type(v).__name__}")


def _uuid_bytes(v: Any) -> bytes:
    if isinstance(v, uuid.UUID):
        return v.int.to_bytes(16, "little")
    raise TypeError(f"expected uuid.UUID, got {type(v).__name__}")


def _bool_value(v: Any) -> int:
    if v is True:
        return 1
    if v is False:
        return 0
    raise TypeError(f"expected bool, got {type(v).__name__}")


def _as_bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        return bytes(v)
    raise TypeError(f"expected bytes, got {type(v).__name__}")


def _sum_tag(v: Any, names: Sequence[str | None]) -> tuple[int, Any]:
    """Split a sum value into (tag, payload); accepts SumValue-likes, ints, names."""
    tag = getattr(v, "tag", None)
    if isinstance(tag, int) and not isinstance(v, int):
        return tag, getattr(v, "value", ())
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v), ()
    if isinstance(v, str):
        try:
            return names.index(v), ()
        except ValueError:
            raise ValueError(f"unknown variant {v!r}") from None
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], int):
        return v[0], v[1]
    raise TypeError(f"expected a sum value (SumValue, variant tag or name), got {type(v).__name__}")


def _enum_tag(v: Any, names: Sequence[str | None]) -> int:
    tag, _ = _sum_tag(v, names)
    if not 0 <= tag < len(names):
        raise ValueError(f"variant tag {tag} out of range (0..{len(names) - 1})")
    return tag


_U32 = struct.Struct("<I")
_u32_unpack = _U32.unpack_from
_u32_pack = _U32.pack

_BASE_NS: dict[str, Any] = {
    "_Fail": _Fail,
    "_bool": _check_bool,
    "_mkid": _mk_identity,
    "_idhit": _identity_hit,
    "_mkidc": _mk_identity_cached,
    "_mkcid": _mk_connid,
    "_mkts": _mk_ts,
    "_mkdur": _mk_dur,
    "_mksched": _mk_sched,
    "_mkuuid": _mk_uuid,
    "_u32": _u32_unpack,
    "_u32p": _u32_pack,
    "_frombytes": int.from_bytes,
    "_tnew": tuple.__new__,
    "_Some": Some,
    "_SumValue": SumValue,
    "_idb": _identity_bytes,
    "_cidb": _connid_bytes,
    "_tsm": _ts_micros,
    "_durm": _dur_micros,
    "_uuidb": _uuid_bytes,
    "_boolv": _bool_value,
    "_asbytes": _as_bytes,
    "_sumtag": _sum_tag,
    "_enumtag": _enum_tag,
    "_ScheduleAt": ScheduleAt,
    "_TimeDuration": TimeDuration,
    "_Timestamp": Timestamp,
    "_struct": struct,
}


def _default_product_class(ty: ProductType) -> type:
    names = []
    for i, e in enumerate(ty.elements):
        n = e.name if e.name is not None else f"_{i}"
        names.append(n)
    base = namedtuple(  # type: ignore[misc]
        _safe_ident(ty.name or "Row"), names, rename=True
    )
    return base


def _safe_ident(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "Row"
    if out[0].isdigit() or iskeyword(out):
        out = "_" + out
    return out


def _one(template: str) -> Callable[[list[str]], str]:
    """A builder that formats the single slot variable into ``template``."""
    return lambda v: template.format(v[0])


class _Flat:
    """A type that fits a struct run: its format, slot count and how to build the value."""

    __slots__ = ("build", "fmt", "nslots", "size")

    def __init__(self, fmt: str, nslots: int, size: int, build: Callable[[list[str]], str]):
        self.fmt = fmt
        self.nslots = nslots
        self.size = size
        self.build = build


class _Compiler:
    """Generates source for decoders/encoders of one root type and everything under it."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = dict(_BASE_NS)
        self.lines: list[str] = []
        self.dec_names: dict[int, str] = {}
        self.enc_names: dict[int, str] = {}
        self.keep: list[Any] = []
        self.counter = 0
        self.classes: dict[int, type] = {}

    def const(self, prefix: str, value: Any) -> str:
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.ns[name] = value
        return name

    def product_class(self, ty: ProductType) -> tuple[str, bool]:
        """The name of the class values of ``ty`` are built with, and whether it is a tuple."""
        if ty.py_class is not None:
            return self.const("C", ty.py_class), issubclass(ty.py_class, tuple)
        cls = self.classes.get(id(ty))
        if cls is None:
            cls = _default_product_class(ty)
            self.classes[id(ty)] = cls
            self.keep.append(ty)
        return self.const("C", cls), True

    # ---- flat (struct-run) analysis ---------------------------------------------------------

    def flat(self, ty: AlgebraicType) -> _Flat | None:
        t = ty.resolve()
        if isinstance(t, PrimitiveType):
            if t.kind == "String":
                return None
            fmt = _PRIM_FMT[t.kind]
            size = t.static_size or 0
            if t.kind == "Bool":
                return _Flat(fmt, 1, 1, lambda v: f"_bool({v[0]})")
            if t.kind in _BIG:
                signed = _BIG[t.kind][1]
                return _Flat(fmt, 1, size, _one(f"_frombytes({{0}}, 'little', signed={signed})"))
            return _Flat(fmt, 1, size, lambda v: v[0])
        if isinstance(t, ProductType):
            sp = t.special
            if sp == "identity":
                # A shared Identity per distinct 32 bytes (see _IDENTITIES).
                return _Flat("32s", 1, 32, lambda v: f"(_idhit({v[0]}) or _mkidc({v[0]}))")
            if sp == "connection_id":
                return _Flat("16s", 1, 16, lambda v: f"_mkcid({v[0]})")
            if sp == "timestamp":
                return _Flat("q", 1, 8, lambda v: f"_mkts({v[0]})")
            if sp == "time_duration":
                return _Flat("q", 1, 8, lambda v: f"_mkdur({v[0]})")
            if sp == "uuid":
                return _Flat("16s", 1, 16, lambda v: f"_mkuuid({v[0]})")
            parts = [self.flat(e.algebraic_type) for e in t.elements]
            if any(p is None for p in parts):
                return None
            flats = [p for p in parts if p is not None]
            cls, is_tuple = self.product_class(t)
            fmt = "".join(p.fmt for p in flats)
            nslots = sum(p.nslots for p in flats)
            size = sum(p.size for p in flats)

            def build(v: list[str], flats: list[_Flat] = flats, cls: str = cls,
                      is_tuple: bool = is_tuple, bound: bool = t.py_class is not None) -> str:  # fmt: skip
                exprs = []
                i = 0
                for p in flats:
                    exprs.append(p.build(v[i : i + p.nslots]))
                    i += p.nslots
                if not exprs:
                    # Unit is (); a class bound by generated code (e.g. the args of a
                    # reducer without parameters) is still built, so events are typed.
                    if not bound:
                        return "()"
                    return f"_tnew({cls}, ())" if is_tuple else f"{cls}()"
                if is_tuple:
                    return f"_tnew({cls}, ({', '.join(exprs)},))"
                return f"{cls}({', '.join(exprs)})"

            return _Flat(fmt, nslots, size, build)
        if isinstance(t, SumType) and t.special == "enum" and t.py_class is None:
            names = [v.name for v in t.variants]
            vals = self.const("EV", tuple(SumValue(i, n, ()) for i, n in enumerate(names)))
            return _Flat("B", 1, 1, _one(f"{vals}[{{0}}]"))
        if isinstance(t, SumType) and t.special == "enum" and t.py_class is not None:
            cls = self.const("E", t.py_class)
            n = len(t.variants)
            tpl = f"({cls}._from_sum({{0}}, ()) if {{0}} < {n} else _Fail.bad_tag())"
            return _Flat("B", 1, 1, _one(tpl))
        return None

    # ---- decoders ---------------------------------------------------------------------------

    def decoder(self, ty: AlgebraicType) -> str:
        """Name of the generated decoder function for ``ty`` (compiling it if needed)."""
        t = ty.resolve() if isinstance(ty, RefType) else ty
        key = id(t)
        if key in self.dec_names:
            return self.dec_names[key]
        self.keep.append(t)
        self.counter += 1
        name = f"d{self.counter}"
        self.dec_names[key] = name
        body: list[str] = []
        if isinstance(t, ProductType):
            self._dec_product(t, body)
        elif isinstance(t, SumType):
            self._dec_sum(t, body)
        elif isinstance(t, ArrayType):
            self._dec_array(t, body)
        elif isinstance(t, PrimitiveType):
            self._dec_prim(t, body)
        else:  # pragma: no cover
            raise TypeError(f"cannot compile {t!r}")
        self.lines.append(f"def {name}(b, o):")
        self.lines.append("    L = len(b)")
        self.lines.extend("    " + ln for ln in body)
        self.lines.append("")
        return name

    def _inline_value(self, ty: AlgebraicType, var: str, body: list[str]) -> None:
        """Emit code reading one ``ty`` at ``o`` into ``var`` and advancing ``o``."""
        t = ty.resolve()
        if isinstance(t, PrimitiveType) and t.kind == "String":
            body += [
                "n = _u32(b, o)[0]; o += 4; e = o + n",
                "if e > L: raise _Fail('string length past the end')",
                f"{var} = b[o:e].decode('utf-8'); o = e",
            ]
            return
        f = self.flat(t)
        if f is not None:
            vs = [f"{var}_{i}" for i in range(f.nslots)]
            if f.nslots:  # a run of only empty products reads nothing
                s = self.const("S", struct.Struct("<" + f.fmt).unpack_from)
                body.append(f"{', '.join(vs)}, = {s}(b, o); o += {f.size}")
            body.append(f"{var} = {f.build(vs)}")
            return
        if isinstance(t, SumType) and t.special == "option" and self._inlinable(t.variants[0]):
            # Option<string> / Option<fixed-width>: read in place, not through a call.
            tag = f"t_{var}"
            some: list[str] = []
            self._inline_value(t.variants[0].algebraic_type, var, some)
            body.append(f"{tag} = b[o]; o += 1")
            body.append(f"if {tag} == 1: {var} = None")
            body.append(f"elif {tag} == 0:")
            body.extend("    " + ln for ln in some)
            body.append("else: raise _Fail('option tag is not 0 or 1')")
            return
        d = self.decoder(t)
        body.append(f"{var}, o = {d}(b, o)")

    def _inlinable(self, variant: SumVariant) -> bool:
        """Whether an option's payload is read inline (a string or a fixed-width value)."""
        t = variant.algebraic_type.resolve()
        if isinstance(t, PrimitiveType):
            return True
        return self.flat(t) is not None

    def _dec_product(
        self, t: ProductType, body: list[str], ret: Callable[[str, str], str] | None = None
    ) -> None:
        """Emit the body decoding one ``t`` at ``o``; ``ret(value, end)`` makes the last line
        (by default ``return value, end``; the row-batch loop assigns instead)."""
        if ret is None:
            ret = _return_line

        f = self.flat(t)
        if f is not None:
            vs = [f"a{i}" for i in range(f.nslots)]
            if f.nslots:
                s = self.const("S", struct.Struct("<" + f.fmt).unpack_from)
                body.append(f"{', '.join(vs)}, = {s}(b, o)")
            body.append(ret(f.build(vs), f"o + {f.size}"))
            return
        cls, is_tuple = self.product_class(t)
        exprs: list[str] = []
        run: list[tuple[_Flat, int]] = []
        slot = 0

        def flush() -> None:
            nonlocal slot
            if not run:
                return
            fmt = "".join(p.fmt for p, _ in run)
            size = sum(p.size for p, _ in run)
            nvars = sum(p.nslots for p, _ in run)
            vs = [f"a{slot + i}" for i in range(nvars)]
            if nvars:  # a run of only empty products reads nothing
                s = self.const("S", struct.Struct("<" + fmt).unpack_from)
                body.append(f"{', '.join(vs)}, = {s}(b, o); o += {size}")
            i = 0
            for p, idx in run:
                exprs[idx] = p.build(vs[i : i + p.nslots])
                i += p.nslots
            slot += nvars
            run.clear()

        for idx, e in enumerate(t.elements):
            exprs.append("")
            p = self.flat(e.algebraic_type)
            if p is not None:
                run.append((p, idx))
                continue
            flush()
            var = f"f{idx}"
            self._inline_value(e.algebraic_type, var, body)
            exprs[idx] = var
        flush()
        if is_tuple:
            body.append(ret(f"_tnew({cls}, ({', '.join(exprs)},))", "o"))
        else:
            body.append(ret(f"{cls}({', '.join(exprs)})", "o"))

    def rows_decoder(self, t: ProductType) -> str:
        """A function decoding a list of whole rows (each its own ``bytes``) in one loop.

        The row body is inlined into the loop, so a row costs no Python call of its own
        (``Codec.decode`` per row costs two, plus its checks). Any failure raises; the caller
        then decodes row by row to report the exact row and offset.
        """
        name = "rows_list"
        body: list[str] = []
        self._dec_product(t, body, _assign_line)
        self.lines.append(f"def {name}(rows):")
        self.lines.append("    out_ = []; ap_ = out_.append")
        self.lines.append("    for b in rows:")
        self.lines.append("        L = len(b); o = 0")
        self.lines.extend("        " + ln for ln in body)
        self.lines.append("        if o != L: raise _Fail('trailing bytes after the row')")
        self.lines.append("        ap_(v)")
        self.lines.append("    return out_")
        self.lines.append("")
        return name

    def _dec_sum(self, t: SumType, body: list[str]) -> None:
        body.append("t = b[o]; o += 1")
        sp = t.special
        if sp == "option":
            inner = t.variants[0].algebraic_type
            it = inner.resolve()
            nullable = isinstance(it, SumType) and it.special == "option"
            body.append("if t == 1: return None, o")
            body.append("if t != 0: raise _Fail('option tag is not 0 or 1')")
            self._inline_value(inner, "v", body)
            # Wrap a present inner None *and* a present inner Some, so Some(Some(None)) stays
            # distinct from Some(None) in Option<Option<Option<T>>>.
            body.append(
                "return (_Some(v) if v is None or type(v) is _Some else v), o"
                if nullable
                else "return v, o"
            )
            return
        if sp == "schedule_at":
            body.append("if t > 1: raise _Fail('ScheduleAt tag is not 0 or 1')")
            body.append("x = _struct.unpack_from('<q', b, o)[0]")
            body.append("return _mksched(_mkdur(x) if t == 0 else _mkts(x)), o + 8")
            return
        names = [v.name for v in t.variants]
        cls = self.const("E", t.py_class) if t.py_class is not None else None
        for i, v in enumerate(t.variants):
            body.append(f"if t == {i}:")
            sub: list[str] = []
            if v.is_unit:
                sub.append("v = ()")
            else:
                self._inline_value(v.algebraic_type, "v", sub)
            if cls is not None:
                sub.append(f"return {cls}._from_sum({i}, v), o")
            else:
                sub.append(f"return _SumValue({i}, {names[i]!r}, v), o")
            body.extend("    " + s for s in sub)
        body.append(f"raise _Fail('sum tag ' + str(t) + ' out of range (0..{len(names) - 1})')")

    def _dec_array(self, t: ArrayType, body: list[str]) -> None:
        elem = t.elem.resolve()
        body.append("n = _u32(b, o)[0]; o += 4")
        if isinstance(elem, PrimitiveType) and elem.kind == "U8":
            body.append("e = o + n")
            body.append("if e > L: raise _Fail('byte array length past the end')")
            body.append("return b[o:e], e")
            return
        f = self.flat(elem)
        if f is not None and f.size > 0:
            body.append(f"e = o + n * {f.size}")
            body.append("if e > L: raise _Fail('array length past the end')")
            if f.nslots == 1 and f.build(["x"]) == "x":
                body.append(f"return list(_struct.unpack_from('<%d{f.fmt}' % n, b, o)), e")
            else:
                it = self.const("I", struct.Struct("<" + f.fmt).iter_unpack)
                vs = [f"x{i}" for i in range(f.nslots)]
                body.append("if n == 0: return [], e")  # common, and skips a comprehension call
                body.append(f"return [{f.build(vs)} for {', '.join(vs)}, in {it}(b[o:e])], e")
            return
        min_size = _min_size(elem)
        if min_size > 0:
            body.append(f"if n * {min_size} > L - o: raise _Fail('array count past the end')")
        else:
            body.append("if n > 1 << 20: raise _Fail('array of empty values is too long')")
        body.append("out = []; ap = out.append")
        body.append("for _ in range(n):")
        sub: list[str] = []
        self._inline_value(elem, "v", sub)
        sub.append("ap(v)")
        body.extend("    " + s for s in sub)
        body.append("return out, o")

    def _dec_prim(self, t: PrimitiveType, body: list[str]) -> None:
        self._inline_value(t, "v", body)
        body.append("return v, o")

    # ---- encoders ---------------------------------------------------------------------------

    def encoder(self, ty: AlgebraicType) -> str:
        t = ty.resolve() if isinstance(ty, RefType) else ty
        key = id(t)
        if key in self.enc_names:
            return self.enc_names[key]
        self.keep.append(t)
        self.counter += 1
        name = f"e{self.counter}"
        self.enc_names[key] = name
        body: list[str] = []
        if isinstance(t, ProductType):
            self._enc_product(t, body)
        elif isinstance(t, SumType):
            self._enc_sum(t, body)
        elif isinstance(t, ArrayType):
            self._enc_array(t, body)
        else:
            self._enc_value(t, "v", body)
        self.lines.append(f"def {name}(v, w):")
        self.lines.extend("    " + ln for ln in (body or ["pass"]))
        self.lines.append("")
        return name

    def _scalar_enc(self, t: AlgebraicType) -> tuple[str, Callable[[str], str]] | None:
        """(struct format, expression converting a Python value) for scalars, else None."""
        t = t.resolve()
        if isinstance(t, PrimitiveType):
            if t.kind == "String":
                return None
            if t.kind == "Bool":
                return "B", lambda x: f"_boolv({x})"
            if t.kind in _BIG:
                n, signed = _BIG[t.kind]
                return _PRIM_FMT[
                    t.kind
                ], lambda x, n=n, s=signed: f"{x}.to_bytes({n}, 'little', signed={s})"
            return _PRIM_FMT[t.kind], lambda x: x
        if isinstance(t, ProductType):
            conv = {
                "identity": ("32s", "_idb"), "connection_id": ("16s", "_cidb"),
                "timestamp": ("q", "_tsm"), "time_duration": ("q", "_durm"),
                "uuid": ("16s", "_uuidb"),
            }.get(t.special or "")  # fmt: skip
            if conv:
                return conv[0], lambda x, f=conv[1]: f"{f}({x})"
        if isinstance(t, SumType) and t.special == "enum":
            names = self.const("N", tuple(v.name for v in t.variants))
            return "B", lambda x, names=names: f"_enumtag({x}, {names})"
        return None

    def _enc_value(self, ty: AlgebraicType, x: str, body: list[str]) -> None:
        t = ty.resolve()
        if isinstance(t, PrimitiveType) and t.kind == "String":
            body += [f"s = {x}.encode('utf-8')", "w += _u32p(len(s)); w += s"]
            return
        sc = self._scalar_enc(t)
        if sc is not None:
            p = self.const("P", struct.Struct("<" + sc[0]).pack)
            body.append(f"w += {p}({sc[1](x)})")
            return
        if isinstance(t, ProductType) and not t.elements:
            return
        if isinstance(t, SumType) and t.special == "option":
            inner = t.variants[0].algebraic_type.resolve()
            if (isinstance(inner, PrimitiveType) and inner.kind == "String") or (
                self._scalar_enc(inner) is not None
            ):
                # Option<string or scalar> written in place: one Python call less per column.
                sub: list[str] = []
                self._enc_value(inner, x, sub)
                body.append(f"if {x} is None: w.append(1)")
                body.append("else:")
                body.append("    w.append(0)")
                body.append(f"    if type({x}) is _Some: {x} = {x}.value")
                body.extend("    " + ln for ln in sub)
                return
        body.append(f"{self.encoder(t)}({x}, w)")

    def _enc_product(self, t: ProductType, body: list[str]) -> None:
        n = len(t.elements)
        if n == 0:
            return
        if t.special:
            sc = self._scalar_enc(t)
            assert sc is not None
            p = self.const("P", struct.Struct("<" + sc[0]).pack)
            body.append(f"w += {p}({sc[1]('v')})")
            return
        wire_names = [e.name or f"_{i}" for i, e in enumerate(t.elements)]
        attr_names = list(t.py_fields) if t.py_fields else wire_names
        getter = self.const("G", attrgetter(*attr_names))
        keys = self.const("K", tuple(wire_names))
        fields = [f"a{i}" for i in range(n)]
        unpack = f"{', '.join(fields)}," if n > 1 else f"{fields[0]},"
        body.append("if isinstance(v, tuple): t = v")
        body.append(f"elif isinstance(v, dict): t = tuple(v[k] for k in {keys})")
        body.append(f"else: t = {getter}(v)" if n > 1 else f"else: t = ({getter}(v),)")
        body.append(
            f"if len(t) != {n}: raise ValueError('expected {n} fields, got ' + str(len(t)))"
        )
        body.append(f"{unpack} = t")
        run: list[tuple[str, str]] = []

        def flush() -> None:
            if not run:
                return
            p = self.const("P", struct.Struct("<" + "".join(f for f, _ in run)).pack)
            body.append(f"w += {p}({', '.join(x for _, x in run)})")
            run.clear()

        for i, e in enumerate(t.elements):
            sc = self._scalar_enc(e.algebraic_type)
            if sc is not None:
                run.append((sc[0], sc[1](fields[i])))
                continue
            flush()
            self._enc_value(e.algebraic_type, fields[i], body)
        flush()

    def _enc_sum(self, t: SumType, body: list[str]) -> None:
        sp = t.special
        if sp == "option":
            body.append("if v is None: w.append(1); return")
            body.append("w.append(0)")
            body.append("if type(v) is _Some: v = v.value")
            self._enc_value(t.variants[0].algebraic_type, "v", body)
            return
        if sp == "schedule_at":
            body.append("if type(v) is not _ScheduleAt: raise TypeError('expected ScheduleAt')")
            body.append("x = v.value")
            body.append("w.append(0 if type(x) is _TimeDuration else 1)")
            body.append(
                "w += _struct.pack('<q', x.micros if type(x) is _TimeDuration else x.micros_since_epoch)"
            )
            return
        names = self.const("N", tuple(v.name for v in t.variants))
        body.append(f"tag, p = _sumtag(v, {names})")
        body.append(
            f"if not 0 <= tag < {len(t.variants)}: raise ValueError('variant tag ' + str(tag) + ' out of range')"
        )
        body.append("w.append(tag)")
        for i, var in enumerate(t.variants):
            if var.is_unit:
                continue
            sub: list[str] = []
            self._enc_value(var.algebraic_type, "p", sub)
            body.append(f"if tag == {i}:")
            body.extend("    " + s for s in sub)

    def _enc_array(self, t: ArrayType, body: list[str]) -> None:
        elem = t.elem.resolve()
        if isinstance(elem, PrimitiveType) and elem.kind == "U8":
            body.append("x = _asbytes(v)")
            body.append("w += _u32p(len(x)); w += x")
            return
        body.append("w += _u32p(len(v))")
        sc = self._scalar_enc(elem)
        if sc is not None and sc[1]("x") == "x":
            body.append(f"w += _struct.pack('<%d{sc[0]}' % len(v), *v)")
            return
        body.append("for x in v:")
        sub: list[str] = []
        self._enc_value(elem, "x", sub)
        body.extend("    " + s for s in (sub or ["pass"]))

    def build(self) -> dict[str, Any]:
        source = "\n".join(self.lines)
        exec(compile(source, "<stdb_game.sats.codec>", "exec"), self.ns)
        self.ns["__source__"] = source
        return self.ns


def _return_line(value: str, end: str) -> str:
    return f"return {value}, {end}"


def _assign_line(value: str, end: str) -> str:
    return f"v = {value}" if end == "o" else f"v = {value}; o = {end}"


def _min_size(t: AlgebraicType, depth: int = 0) -> int:
    """The fewest bytes any value of ``t`` takes (to bound array counts before looping)."""
    t = t.resolve()
    if depth > 20:
        return 0
    if isinstance(t, PrimitiveType):
        return t.static_size if t.static_size is not None else 4
    if isinstance(t, ArrayType):
        return 4
    if isinstance(t, ProductType):
        return sum(_min_size(e.algebraic_type, depth + 1) for e in t.elements)
    if isinstance(t, SumType):
        return 1 + min((_min_size(v.algebraic_type, depth + 1) for v in t.variants), default=0)
    return 0


def _bad_tag() -> Any:
    raise _Fail("enum tag out of range")


_Fail.bad_tag = staticmethod(_bad_tag)  # type: ignore[attr-defined]

_FAST_ERRORS = (
    _Fail,
    struct.error,
    IndexError,
    UnicodeDecodeError,
    ValueError,
    TypeError,
    OverflowError,
    KeyError,
    MemoryError,
)


class Codec:
    """The compiled BSATN decoder and encoder of one type."""

    __slots__ = (
        "_dec",
        "_enc",
        "_rows_fixed",
        "_rows_list",
        "fixed_size",
        "source",
        "type",
        "type_name",
    )

    def __init__(self, ty: AlgebraicType) -> None:
        self.type = ty
        self.type_name = ty.describe()
        comp = _Compiler()
        dname = comp.decoder(ty)
        ename = comp.encoder(ty)
        t = ty.resolve()
        rows_name = None
        flat = comp.flat(t) if isinstance(t, ProductType) else None
        if flat is not None and flat.size > 0:
            it = comp.const("I", struct.Struct("<" + flat.fmt).iter_unpack)
            vs = [f"x{i}" for i in range(flat.nslots)]
            comp.lines.append("def rows_fixed(data):")
            comp.lines.append(f"    return [{flat.build(vs)} for {', '.join(vs)}, in {it}(data)]")
            rows_name = "rows_fixed"
        list_name = comp.rows_decoder(t) if isinstance(t, ProductType) else None
        ns = comp.build()
        self._rows_list: Callable[[Sequence[bytes]], list[Any]] | None = (
            ns[list_name] if list_name else None
        )
        self._dec: Decoder = ns[dname]
        self._enc: Encoder = ns[ename]
        self._rows_fixed: Callable[[bytes], list[Any]] | None = ns[rows_name] if rows_name else None
        self.fixed_size: int | None = flat.size if flat is not None else None
        self.source: str = ns["__source__"]

    # -- decoding --

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one value that must take the whole buffer."""
        buf = data if type(data) is bytes else bytes(data)
        try:
            value, end = self._dec(buf, 0)
        except _FAST_ERRORS as exc:
            raise self._diagnose(buf, 0, exc) from None
        except RecursionError:
            raise self._too_deep(0) from None
        if end != len(buf):
            raise DecodeError(
                f"{len(buf) - end} trailing byte(s) after the value",
                type_name=self.type_name,
                offset=end,
            )
        return value

    def decode_from(self, buf: bytes, offset: int = 0) -> tuple[Any, int]:
        """Decode one value at ``offset``; return it and the offset just past it."""
        try:
            return self._dec(buf, offset)
        except _FAST_ERRORS as exc:
            raise self._diagnose(buf, offset, exc) from None
        except RecursionError:
            raise self._too_deep(offset) from None

    def decode_rows_packed(self, data: bytes) -> list[Any]:
        """Decode values laid back to back until the buffer ends."""
        if self._rows_fixed is not None and self.fixed_size:
            return self.decode_rows_fixed(data, self.fixed_size)
        dec = self._dec
        out: list[Any] = []
        ap = out.append
        o = 0
        n = len(data)
        try:
            while o < n:
                v, end = dec(data, o)
                if end == o:
                    break  # a zero-size row type: it can never consume the rest
                o = end
                ap(v)
        except _FAST_ERRORS as exc:
            raise self._diagnose(data, o, exc) from None
        except RecursionError:
            raise self._too_deep(o) from None
        if o < n:  # only a zero-size row type stops short
            raise DecodeError(
                "the row type takes no bytes, so leftover row data cannot be rows",
                type_name=self.type_name,
                offset=o,
            )
        if o != n:
            raise DecodeError(
                "row ran past the end of the row list", type_name=self.type_name, offset=o
            )
        return out

    def decode_rows_list(self, rows: Sequence[bytes]) -> list[Any]:
        """Decode rows given one ``bytes`` each (each must be exactly one whole value).

        The same values and errors as ``[self.decode(r) for r in rows]``, in one loop.
        """
        fast = self._rows_list
        if fast is not None:
            try:
                return fast(rows)
            except _FAST_ERRORS:
                pass  # decode row by row below for the exact row and offset
            except RecursionError:
                pass
        return [self.decode(r) for r in rows]

    def decode_rows_fixed(self, data: bytes, row_size: int) -> list[Any]:
        """Decode a ``FixedSize(row_size)`` row list."""
        if row_size <= 0 or len(data) % row_size:
            raise DecodeError(
                f"{len(data)} bytes is not a whole number of {row_size}-byte rows",
                type_name=self.type_name,
                offset=0,
            )
        if self._rows_fixed is not None and row_size == self.fixed_size:
            try:
                return self._rows_fixed(data)
            except _FAST_ERRORS:
                pass  # fall through to the checked path for the exact offset
        return self.decode_rows_offsets(data, range(0, len(data), row_size))

    def decode_rows_offsets(self, data: bytes, offsets: Sequence[int]) -> list[Any]:
        """Decode a ``RowOffsets`` row list: each row must end where the next starts."""
        dec = self._dec
        out: list[Any] = []
        n = len(offsets)
        end_all = len(data)
        for i in range(n):
            start = offsets[i]
            stop = offsets[i + 1] if i + 1 < n else end_all
            try:
                v, end = dec(data, start)
            except _FAST_ERRORS as exc:
                raise self._diagnose(data, start, exc) from None
            except RecursionError:
                raise self._too_deep(start) from None
            if end != stop:
                raise DecodeError(
                    f"row {i} is {end - start} bytes but its slot is {stop - start}",
                    type_name=self.type_name,
                    offset=end,
                )
            out.append(v)
        return out

    def _too_deep(self, offset: int) -> DecodeError:
        """A recursive (``Ref``) type nested past Python's stack: bad input, not a crash."""
        return DecodeError("value nested too deeply", type_name=self.type_name, offset=offset)

    def _diagnose(self, buf: bytes, offset: int, exc: BaseException) -> DecodeError:
        try:
            _checked_walk(self.type, buf, offset, self.type_name)
        except DecodeError as found:
            return found
        except RecursionError:
            return self._too_deep(offset)
        return DecodeError(str(exc) or type(exc).__name__, type_name=self.type_name, offset=offset)

    # -- encoding --

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        try:  # encode_into's body, inlined: one Python call less per value
            self._enc(value, out)
        except _ENCODE_ERRORS as exc:
            raise _encode_failure(self, value, exc) from exc
        except RecursionError:
            raise EncodeError("value nested too deeply", type_name=self.type_name) from None
        return bytes(out)

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the encoding of ``value`` to ``out``."""
        try:
            self._enc(value, out)
        except _ENCODE_ERRORS as exc:
            raise _encode_failure(self, value, exc) from exc
        except RecursionError:
            raise EncodeError("value nested too deeply", type_name=self.type_name) from None


_ENCODE_ERRORS = (struct.error, TypeError, ValueError, AttributeError, OverflowError, KeyError)


def _encode_message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"


# ---- saying which part of a value did not encode --------------------------------------------
# The compiled encoders only know that the whole value failed. On that (rare) path the value
# is walked again against its type to name the field, the expected type and what was given.

_BRIEF_CHARS = 40


def _brief(v: Any) -> str:
    """``type value`` in a few characters, for error messages."""
    text = repr(v)
    if len(text) > _BRIEF_CHARS:
        text = text[: _BRIEF_CHARS - 1] + "…"
    return f"{type(v).__name__} {text}"


def _is_int_type(t: AlgebraicType) -> bool:
    return isinstance(t, PrimitiveType) and t.kind[0] in "IU" and t.kind[1:].isdigit()


def _expected(t: AlgebraicType) -> str:
    """The type's name, with the range of an integer type."""
    name = t.describe()
    if isinstance(t, PrimitiveType) and _is_int_type(t):
        bits = int(t.kind[1:])
        if t.kind[0] == "I":
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            lo, hi = 0, (1 << bits) - 1
        return f"{name} ({lo}..{hi})"
    return name


def _detail(t: AlgebraicType, v: Any, exc: BaseException) -> str:
    """What the failure adds to "expected X, got Y": a range, or our own helpers' words."""
    if _is_int_type(t) and isinstance(v, int) and not isinstance(v, bool):
        return " (out of range)"
    if type(exc) in (TypeError, ValueError):
        text = str(exc)
        if text and not text.startswith("expected ") and "object has no attribute" not in text:
            return f" ({text})"
    return ""


def _encodes(ty: AlgebraicType, v: Any) -> bool:
    try:
        get_codec(ty)._enc(v, bytearray())
    except (*_ENCODE_ERRORS, RecursionError):
        return False
    return True


def _join(path: str, part: str) -> str:
    if part.startswith("["):
        return f"{path}{part}"
    return f"{path}.{part}" if path else part


def _explain(ty: AlgebraicType, v: Any, path: str, depth: int = 0) -> str | None:
    """Why ``v`` does not encode as ``ty``, naming the first failing field; None if unknown."""
    if depth > 64:
        return None
    t = ty.resolve()
    at = f"{path}: " if path else ""
    if isinstance(t, ProductType) and t.elements and not t.special:
        wire = [e.name or f"_{i}" for i, e in enumerate(t.elements)]
        attrs = list(t.py_fields) if t.py_fields else wire
        if isinstance(v, tuple):
            values = list(v)
        elif isinstance(v, dict):
            missing = [k for k in wire if k not in v]
            if missing:
                return f"{at}missing field(s) {', '.join(map(repr, missing))}"
            values = [v[k] for k in wire]
        elif all(hasattr(v, a) for a in attrs):
            values = [getattr(v, a) for a in attrs]
        else:
            return (
                f"{at}expected {t.describe()} (a tuple, dict or object with fields "
                f"{', '.join(wire)}), got {_brief(v)}"
            )
        if len(values) != len(wire):
            return f"{at}expected {len(wire)} fields ({', '.join(wire)}), got {len(values)}"
        for name, e, x in zip(wire, t.elements, values):
            if not _encodes(e.algebraic_type, x):
                return _explain(e.algebraic_type, x, _join(path, name), depth + 1)
        return None
    if isinstance(t, ArrayType) and not t.is_bytes:
        if not hasattr(v, "__len__") or not hasattr(v, "__iter__") or isinstance(v, (str, dict)):
            return f"{at}expected {t.describe()} (a list), got {_brief(v)}"
        for i, x in enumerate(v):
            if not _encodes(t.elem, x):
                return _explain(t.elem, x, _join(path, f"[{i}]"), depth + 1)
        return None
    if isinstance(t, SumType) and t.special == "option":
        if v is None:
            return None
        inner = v.value if type(v) is Some else v
        return _explain(t.variants[0].algebraic_type, inner, path, depth + 1)
    if isinstance(t, SumType) and t.special not in ("enum", "schedule_at"):
        names = [var.name for var in t.variants]
        try:
            tag, payload = _sum_tag(v, names)
        except (TypeError, ValueError) as exc:
            return f"{at}expected {t.describe()}, got {_brief(v)}{_detail(t, v, exc)}"
        if not 0 <= tag < len(t.variants):
            return (
                f"{at}expected {t.describe()}: variant tag {tag} out of range "
                f"(0..{len(t.variants) - 1})"
            )
        var = t.variants[tag]
        if not _encodes(var.algebraic_type, payload):
            where = _join(path, var.name or f"{tag}")
            return _explain(var.algebraic_type, payload, where, depth + 1)
        return None
    try:
        get_codec(t)._enc(v, bytearray())
    except _ENCODE_ERRORS as exc:
        return f"{at}expected {_expected(t)}, got {_brief(v)}{_detail(t, v, exc)}"
    except RecursionError:
        return None
    return None


def explain_encode_failure(ty: AlgebraicType, value: Any, path: str = "") -> str | None:
    """Why ``value`` does not encode as ``ty`` ("path: expected T, got type value"), or None.

    ``path`` names the value itself (an argument name); fields and items extend it.
    """
    try:
        return _explain(ty, value, path)
    except Exception:  # an explanation must never hide the error it explains
        return None


def _encode_failure(codec: Codec, value: Any, exc: BaseException) -> EncodeError:
    """The ``EncodeError`` for a value the compiled encoder refused, saying where and why."""
    reason = explain_encode_failure(codec.type, value)
    return EncodeError(reason or _encode_message(exc), type_name=codec.type_name)


def _checked_walk(ty: AlgebraicType, b: bytes, o: int, path: str) -> int:
    """Re-read a value slowly with every check, raising DecodeError at the exact spot."""
    t = ty.resolve()
    n = len(b)

    def need(k: int, what: str) -> None:
        if o + k > n:
            raise DecodeError(
                f"needs {k} byte(s) for {what}, {max(n - o, 0)} left", type_name=path, offset=o
            )

    if isinstance(t, PrimitiveType):
        if t.kind == "String":
            need(4, "the string length")
            ln: int = _u32_unpack(b, o)[0]
            if o + 4 + ln > n:
                raise DecodeError(
                    f"string length {ln} is past the end ({n - o - 4} byte(s) left)",
                    type_name=path,
                    offset=o,
                )
            try:
                b[o + 4 : o + 4 + ln].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"invalid UTF-8 ({exc.reason})", type_name=path, offset=o + 4 + exc.start
                ) from None
            return o + 4 + ln
        size = t.static_size or 0
        need(size, t.kind)
        if t.kind == "Bool" and b[o] > 1:
            raise DecodeError(f"bool byte is {b[o]:#04x}, not 0 or 1", type_name=path, offset=o)
        return o + size
    if isinstance(t, ProductType):
        for e in t.elements:
            label = f"{path}.{e.name}" if e.name and not (t.special) else path
            o = _checked_walk(e.algebraic_type, b, o, label)
        return o
    if isinstance(t, SumType):
        need(1, "the sum tag")
        tag = b[o]
        if tag >= len(t.variants):
            raise DecodeError(
                f"sum tag {tag} out of range (0..{len(t.variants) - 1})", type_name=path, offset=o
            )
        v = t.variants[tag]
        return _checked_walk(v.algebraic_type, b, o + 1, f"{path}::{v.name}")
    if isinstance(t, ArrayType):
        need(4, "the array length")
        count: int = _u32_unpack(b, o)[0]
        o += 4
        elem = t.elem.resolve()
        ms = _min_size(elem)
        if ms and count * ms > n - o:
            raise DecodeError(
                f"array count {count} needs at least {count * ms} bytes, {n - o} left",
                type_name=path,
                offset=o - 4,
            )
        if not ms and count > 1 << 20:  # same bound as the fast path; else a 4e9-step loop
            raise DecodeError(
                f"array count {count} of empty values is too long", type_name=path, offset=o - 4
            )
        for i in range(count):
            o = _checked_walk(elem, b, o, f"{path}[{i}]")
        return o
    raise DecodeError("unknown type", type_name=path, offset=o)  # pragma: no cover


# ---- the cache of compiled codecs -----------------------------------------------------------

_BY_ID: dict[int, tuple[AlgebraicType, Codec]] = {}
_BY_STRUCTURE: dict[tuple[AlgebraicType, tuple[str | None, ...]], Codec] = {}
_MAX_BY_ID = 10_000


def _has_bindings(t: AlgebraicType, depth: int = 0) -> bool:
    if depth > 50:
        return True
    if isinstance(t, RefType):
        return True  # refs resolve through a typespace that may differ: cache by object
    if isinstance(t, ProductType):
        return t.py_class is not None or any(
            _has_bindings(e.algebraic_type, depth + 1) for e in t.elements
        )
    if isinstance(t, SumType):
        return t.py_class is not None or any(
            _has_bindings(v.algebraic_type, depth + 1) for v in t.variants
        )
    if isinstance(t, ArrayType):
        return _has_bindings(t.elem, depth + 1)
    return False


def _type_names(t: AlgebraicType, out: list[str | None], depth: int = 0) -> None:
    """Display names inside ``t``: they label errors and decoded classes, but are not part
    of structural equality, so the structural cache must tell them apart."""
    if depth > 50:
        return
    if isinstance(t, ProductType):
        out.append(t.name)
        for e in t.elements:
            _type_names(e.algebraic_type, out, depth + 1)
    elif isinstance(t, SumType):
        out.append(t.name)
        for v in t.variants:
            _type_names(v.algebraic_type, out, depth + 1)
    elif isinstance(t, ArrayType):
        _type_names(t.elem, out, depth + 1)


def get_codec(ty: AlgebraicType) -> Codec:
    """The codec of ``ty``, compiled on first use and cached.

    Set ``py_class`` on a type before its first use: a codec is built once per type object.
    """
    hit = _BY_ID.get(id(ty))
    if hit is not None and hit[0] is ty:
        return hit[1]
    if not _has_bindings(ty):
        names: list[str | None] = []
        _type_names(ty, names)
        key = (ty, tuple(names))
        codec = _BY_STRUCTURE.get(key)
        if codec is None:
            codec = Codec(ty)
            _BY_STRUCTURE[key] = codec
    else:
        codec = Codec(ty)
    if len(_BY_ID) >= _MAX_BY_ID:
        _BY_ID.clear()
    _BY_ID[id(ty)] = (ty, codec)
    return codec


def encode(ty: AlgebraicType, value: Any) -> bytes:
    """The BSATN bytes of ``value`` as type ``ty``."""
    return get_codec(ty).encode(value)


def decode(ty: AlgebraicType, data: bytes | bytearray | memoryview) -> Any:
    """Decode a whole buffer as one value of type ``ty``."""
    return get_codec(ty).decode(data)
