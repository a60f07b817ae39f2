"""Compile LLVM IR to host machine code, cache the object code on disk, and
load it into this process.

* Target: the host CPU and its features, ``-O3`` pipeline with loop and SLP
  vectorization.
* Cache: ``<config.compiledir>/llvm/<key>.o``; ``key`` is the sha256 of the
  kernel's canonical text, the code generator's own source (so any change to
  the backend invalidates old entries), the llvmlite/LLVM versions, target
  triple, CPU name and features.  Each entry is ``magic | payload length |
  sha256(payload) | payload``: a truncated or corrupt file is detected, counted
  as ``cache_corrupt`` and rebuilt.  Writes go to a temporary file in the
  same directory and are renamed into place (atomic on POSIX), so concurrent
  processes never read a partial entry; the last writer wins with identical
  bytes.
* Loading: one MCJIT engine per process; each object file is added once and
  its entry symbol looked up.  C math functions resolve against the process
  (libm is loaded permanently).  Objects use static relocations and the large
  code model: RuntimeDyld mis-links GOT-relative (PIC) calls to libm once
  several objects are loaded, while absolute addressing works wherever the
  engine places the code.
"""

import ctypes.util
import hashlib
import os
import struct
import tempfile
import threading
import warnings

import llvmlite
import llvmlite.binding as llvm

from ...compile.profile import compile_phase, count_event
from ...config import config

_MAGIC = b"GRAPHCO1"
_HEADER = struct.Struct("<8sQ32s")  # magic, payload length, sha256 of payload


def _source_fingerprint():
    """Hash of this backend's source files: part of every cache key."""
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


class ObjectCache:
    """Object files on disk under ``root``, keyed by hex digests."""

    def __init__(self, root):
        self.root = root
        self._warned = False

    def path(self, key):
        return os.path.join(self.root, key + ".o")

    def read(self, key):
        """The payload stored under ``key``, or None if absent or damaged."""
        try:
            with open(self.path(key), "rb") as f:
                blob = f.read()
        except OSError:
            return None
        if len(blob) >= _HEADER.size:
            magic, length, digest = _HEADER.unpack_from(blob)
            payload = blob[_HEADER.size:]
            if (magic == _MAGIC and length == len(payload)
                    and hashlib.sha256(payload).digest() == digest):
                return payload
        count_event("cache_corrupt")
        return None

    def write(self, key, payload):
        """Store atomically; a cache that cannot be written only costs speed."""
        blob = _HEADER.pack(_MAGIC, len(payload), hashlib.sha256(payload).digest()) + payload
        tmp = None
        try:
            os.makedirs(self.root, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=key[:16] + ".", suffix=".tmp", dir=self.root)
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(key))
            tmp = None
        except OSError as exc:
            if not self._warned:
                warnings.warn(f"graphc: cannot write the compile cache in {self.root!r} "
                              f"({exc}); kernels will be recompiled in each process",
                              RuntimeWarning, stacklevel=3)
                self._warned = True
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


class Toolchain:
    """The process-wide LLVM target machine and execution engine."""

    def __init__(self):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        libm = ctypes.util.find_library("m")
        if libm:
            llvm.load_library_permanently(libm)
        self.triple = llvm.get_process_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_triple(self.triple)
        self.target_machine = target.create_target_machine(
            cpu=self.cpu, features=self.features, opt=3, reloc="static", codemodel="large")
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.machine_id = "|".join([self.triple, self.cpu, self.features,
                                    f"llvmlite {llvmlite.__version__}",
                                    "llvm " + ".".join(map(str, llvm.llvm_version_info))])
        self.fingerprint = _source_fingerprint()
        self._lock = threading.Lock()
        self._loaded = {}  # key -> entry address

    @property
    def has_f16c(self):
        return "+f16c" in self.features.split(",")

    def cache(self):
        return ObjectCache(os.path.join(config.compiledir, "llvm"))

    def key(self, text):
        h = hashlib.sha256()
        for part in (text, self.fingerprint, self.machine_id):
            h.update(part.encode() + b"\0")
        return h.hexdigest()

    def optimize(self, llvm_ir):
        """Parse, verify and run the -O3 pipeline: an optimized ModuleRef."""
        mod = llvm.parse_assembly(llvm_ir)
        mod.verify()
        mod.triple = self.triple
        mod.data_layout = str(self.target_machine.target_data)
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = True
        pb = llvm.create_pass_builder(self.target_machine, pto)
        pb.getModulePassManager().run(mod, pb)
        return mod

    def assembly(self, llvm_ir):
        """Host assembly of ``llvm_ir`` after optimization (for inspection)."""
        return self.target_machine.emit_assembly(self.optimize(llvm_ir))

    def load(self, text, build):
        """Address of the entry function of the kernel described by ``text``;
        ``build(symbol)`` returns its ``llvmlite.ir.Module`` on a cache miss."""
        key = self.key(text)
        with self._lock:
            address = self._loaded.get(key)
            if address is not None:
                count_event("cache_hit_memory")
                return address
            symbol = "graphc_kernel_" + key[:32]
            cache = self.cache()
            with compile_phase("cache_load"):
                obj = cache.read(key)
            if obj is None:
                count_event("cache_miss")
                with compile_phase("codegen"):
                    llvm_ir = str(build(symbol))
                with compile_phase("llvm_compile"):
                    obj = self.target_machine.emit_object(self.optimize(llvm_ir))
                cache.write(key, obj)
            else:
                count_event("cache_hit")
            with compile_phase("cache_load"):
                self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
                self.engine.finalize_object()
                address = self.engine.get_function_address(symbol)
            if not address:
                raise RuntimeError(f"LLVM backend: symbol {symbol} missing from its object code")
            self._loaded[key] = address
            return address


_TOOLCHAIN = None
_TOOLCHAIN_LOCK = threading.Lock()


def toolchain():
    """The process-wide Toolchain (created on first use)."""
    global _TOOLCHAIN
    with _TOOLCHAIN_LOCK:
        if _TOOLCHAIN is None:
            _TOOLCHAIN = Toolchain()
        return _TOOLCHAIN
