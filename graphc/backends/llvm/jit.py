"""Compile LLVM IR to host machine code, cache the object code on disk, and
load it into this process.

* Unit of compilation: all the kernels of one compiled function that are not
  loaded yet go into ONE LLVM module: one pass-pipeline run, one object file,
  one cache entry, one load (per-module fixed costs are paid once, and
  shared helpers are compiled once).  Each kernel is built as its own
  ``llvmlite.ir`` module, so one that cannot be lowered drops out alone; the
  modules are parsed and linked in one LLVM context.
* Target: the host CPU and its features, ``-O3`` pipeline with loop and SLP
  vectorization.
* Keys: a kernel's key is the sha256 of its canonical text (plus what its
  code depends on: the aliasing of its operands), the code generator's own
  source (so any change to the backend invalidates old entries), the
  llvmlite/LLVM versions, target triple, CPU name and features.  It is
  computed from the text alone: a cache hit builds no IR.  A module's key
  is the sha256 of its kernels' keys (sorted); its ``i``-th kernel (in key
  order) is the symbol ``graphc_<module key[:32]>_<i>``.
* Cache: ``<config.compiledir>/llvm/<module key>.o`` holds a module's object
  code and ``<kernel key>.ref`` names the module (and index) holding that
  kernel, so another function (another process) that needs the kernel
  among a different set reuses it; for a kernel the code generator cannot
  lower, the reference says so (a warm load never builds IR).  Each file is ``magic | payload length |
  sha256(payload) | payload``: a truncated or corrupt file is detected,
  counted as ``cache_corrupt`` and rebuilt.  Writes go to a temporary file
  in the same directory renamed into place (atomic on POSIX), so concurrent
  processes never read a partial entry; the last writer wins with identical
  bytes.  There is no fsync (it cost ~4 ms a file): a file torn by a crash
  fails its checksum and is rebuilt.
* Loading: one MCJIT engine per process; each object file is added once and
  its entry symbols looked up.  C math functions resolve against the process
  (libm is loaded permanently).  Objects use static relocations and the large
  code model: RuntimeDyld mis-links GOT-relative (PIC) calls to libm once
  several objects are loaded, while absolute addressing works wherever the
  engine places the code.
* Support code (the runtime's call trampolines): compiled once per machine
  into ``<key>.rt`` files of the same cache and loaded into the same engine
  (``Toolchain.load_support``), so a warm process compiles no LLVM at all.
* Counters (``f.maker.compile_stats``): per kernel ``cache_hit_memory``
  (loaded by an earlier function of this process), ``cache_hit`` (from
  disk), ``cache_miss`` (compiled); ``cache_corrupt`` per damaged file.
  Support objects count only as ``cache_corrupt`` when damaged; their
  compilation is timed in the ``llvm_compile`` phase.
* Process start-up (``Toolchain()``, ~1.6 ms): LLVM's native target, libm
  loaded by its usual soname (``ctypes.util.find_library`` would spawn
  ``ldconfig``, ~5 ms), one target machine and engine, and the sha256 of
  this package's sources (~0.2 ms for ~150 KB: cheaper than any scheme that
  would cache it, which would still have to stat every file).  Importing
  llvmlite (~15 ms, most of it loading its LLVM library) is what a warm
  process still pays; ``import graphc`` defers it to the first compiled
  function (``graphc/backends/__init__.py``).
"""

import hashlib
import os
import re
import struct
import sys
import tempfile
import threading
import warnings

import llvmlite
import llvmlite.binding as llvm

from ...compile.profile import compile_phase, count_event
from ...config import config
from .scalar import NotLowerable

_MAGIC = b"GRAPHCO1"
_HEADER = struct.Struct("<8sQ32s")  # magic, payload length, sha256 of payload
_REF = re.compile(rb"([0-9a-f]{64}) ([0-9]+)")
#: the reference of a kernel the code generator cannot lower
_NOT_LOWERABLE = b"not lowerable"
#: file suffix of support objects (``Toolchain.load_support``)
SUPPORT_SUFFIX = ".rt"
#: the C math library's usual file name, per platform (tried before a search)
_LIBM_NAMES = {"linux": "libm.so.6", "darwin": "libm.dylib"}


#: where a kernel is: not in any module, it runs its NumPy reference
NOT_LOWERABLE = "not lowerable"


def _source_fingerprint():
    """Hash of this backend's source files (and of the array-struct offsets
    its code reads, ``backends/array_struct.py``): part of every cache key."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sorted(os.path.join(here, name) for name in os.listdir(here) if name.endswith(".py"))
    paths.append(os.path.join(os.path.dirname(here), "array_struct.py"))
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    return h.hexdigest()


def _load_libm():
    """Make the C math library's symbols visible to loaded objects (the
    kernels call ``sin``, ``exp``...).  Its usual name is tried first:
    ``ctypes.util.find_library`` runs a subprocess (~5 ms per process)."""
    name = _LIBM_NAMES.get(sys.platform)
    if name is not None:
        try:
            llvm.load_library_permanently(name)
            return
        except RuntimeError:  # not where it usually is: search for it
            pass
    import ctypes.util

    libm = ctypes.util.find_library("m")
    if libm:
        llvm.load_library_permanently(libm)


def symbol_name(module_key, index):
    """The entry symbol of the ``index``-th kernel of a module."""
    return f"graphc_{module_key[:32]}_{index}"


def _provisional_symbol(kernel_key):
    """The entry symbol a kernel is built with, before its module is known
    (unique, so the helper functions named after it never clash)."""
    return f"graphc_kernel_{kernel_key[:32]}"


def module_key(kernel_keys):
    """The cache key of a module holding the kernels of ``kernel_keys``."""
    return hashlib.sha256("\0".join(sorted(kernel_keys)).encode()).hexdigest()


class ObjectCache:
    """Checksummed files on disk under ``root``, named by hex digests:
    ``<key>.o`` object code, ``<key>.ref`` references."""

    def __init__(self, root):
        self.root = root
        self._warned = False

    def path(self, key, suffix=".o"):
        return os.path.join(self.root, key + suffix)

    def read(self, key, suffix=".o"):
        """The payload stored under ``key``, or None if absent or damaged."""
        try:
            with open(self.path(key, suffix), "rb") as f:
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

    def write(self, key, payload, suffix=".o"):
        """Store atomically; a cache that cannot be written only costs speed."""
        blob = _HEADER.pack(_MAGIC, len(payload), hashlib.sha256(payload).digest()) + payload
        tmp = None
        try:
            os.makedirs(self.root, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=key[:16] + ".", suffix=".tmp", dir=self.root)
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, self.path(key, suffix))
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

    def read_ref(self, kernel_key):
        """(module key, index) of the module holding ``kernel_key``,
        ``NOT_LOWERABLE``, or None (unknown or damaged)."""
        payload = self.read(kernel_key, ".ref")
        if payload is None:
            return None
        if payload == _NOT_LOWERABLE:
            return NOT_LOWERABLE
        match = _REF.fullmatch(payload)
        if match is None:
            count_event("cache_corrupt")
            return None
        return match.group(1).decode(), int(match.group(2))

    def write_ref(self, kernel_key, location):
        """Record ``location``: (module key, index) or ``NOT_LOWERABLE``."""
        payload = (_NOT_LOWERABLE if location is NOT_LOWERABLE
                   else f"{location[0]} {location[1]}".encode())
        self.write(kernel_key, payload, ".ref")


class Toolchain:
    """The process-wide LLVM target machine and execution engine."""

    #: new pass manager speed level (-O3)
    SPEED_LEVEL = 3

    def __init__(self):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _load_libm()
        self.triple = llvm.get_process_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_triple(self.triple)
        self.target_machine = target.create_target_machine(
            cpu=self.cpu, features=self.features, opt=3, reloc="static", codemodel="large")
        self.data_layout = str(self.target_machine.target_data)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.machine_id = "|".join([self.triple, self.cpu, self.features,
                                    f"llvmlite {llvmlite.__version__}",
                                    "llvm " + ".".join(map(str, llvm.llvm_version_info))])
        self.fingerprint = _source_fingerprint()
        self._lock = threading.Lock()
        self._loaded = {}  # kernel key -> entry address (None: not lowerable)
        self._modules = set()  # keys of the modules added to the engine

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

    def optimize(self, module, unroll=True):
        """Verify and run the -O3 pipeline on a ModuleRef (or IR text);
        returns the optimized ModuleRef.  ``unroll=False``: no loop unrolling
        (vectorized loops are not interleaved either), for code whose loops
        are short or memory bound, where unrolling costs compile time
        without speed (see ``load``)."""
        if isinstance(module, str):
            module = llvm.parse_assembly(module)
        module.verify()
        module.triple = self.triple
        module.data_layout = self.data_layout
        pto = llvm.create_pipeline_tuning_options(speed_level=self.SPEED_LEVEL)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = unroll
        pto.loop_interleaving = unroll
        pb = llvm.create_pass_builder(self.target_machine, pto)
        pb.getModulePassManager().run(module, pb)
        return module

    def assembly(self, llvm_ir):
        """Host assembly of ``llvm_ir`` after optimization (for inspection)."""
        return self.target_machine.emit_assembly(self.optimize(llvm_ir))

    def load(self, requests, unroll=True):
        """Entry addresses of kernels, in order; ``requests``: (text, build)
        pairs where ``text`` identifies the kernel's code and ``build(symbol)``
        returns its ``llvmlite.ir.Module`` defining ``symbol`` (called on a
        cache miss only).  A kernel whose build raises ``NotLowerable`` gets
        None.  The kernels neither loaded nor cached compile as one module,
        unrolled or not (``optimize``; part of their cache keys)."""
        keys = [self.key(text if unroll else text + "\0no-unroll") for text, _ in requests]
        with self._lock:
            found = {}
            for key in keys:
                if key in self._loaded and key not in found:
                    found[key] = self._loaded[key]
                    count_event("cache_hit_memory")
            missing = sorted(set(keys) - found.keys())
            if missing:
                cache = self.cache()
                with compile_phase("cache_load"):
                    found.update(self._load_cached(cache, missing))
                rest = [key for key in missing if key not in found]
                if rest:
                    builds = dict(zip(keys, (build for _, build in requests)))
                    found.update(self._compile(cache, rest, builds, unroll))
            return [found[key] for key in keys]

    def load_support(self, text, name):
        """Entry address of ``name``, support code that is not a kernel (the
        runtime's call trampolines) defined by the LLVM IR ``text``: loaded
        from the cache (``<key>.rt``), else compiled and cached.  A function
        of several kernels needs several trampolines: compiling them in each
        process cost ~4 ms apiece."""
        key = self.key("support\0" + text)
        with self._lock:
            if key not in self._modules:
                cache = self.cache()
                with compile_phase("cache_load"):
                    obj = cache.read(key, SUPPORT_SUFFIX)
                if obj is None:
                    with compile_phase("llvm_compile"):
                        obj = self.target_machine.emit_object(self.optimize(text))
                    cache.write(key, obj, SUPPORT_SUFFIX)
                with compile_phase("cache_load"):
                    self._add_loaded_object(key, obj)
            address = self.engine.get_function_address(name)
        if not address:
            raise RuntimeError(f"LLVM backend: symbol {name} missing from its object code")
        return address

    def _add_loaded_object(self, key, obj):
        """Add object code ``obj`` (cache key ``key``) to the engine."""
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self.engine.finalize_object()
        self._modules.add(key)

    def _add_object(self, cache, mod_key, bad):
        """Add module ``mod_key``'s cached object to the engine; False if it
        is absent or damaged (``bad`` remembers those, to check each once)."""
        if mod_key in self._modules:
            return True
        if mod_key in bad:
            return False
        obj = cache.read(mod_key)
        if obj is None:
            bad.add(mod_key)
            return False
        self._add_loaded_object(mod_key, obj)
        return True

    def _address(self, mod_key, index):
        return self.engine.get_function_address(symbol_name(mod_key, index)) or None

    def _load_cached(self, cache, missing):
        """Addresses of the kernels of ``missing`` found in the disk cache:
        the module of exactly these kernels, else each kernel's reference."""
        found, bad = {}, set()
        whole = module_key(missing)
        located = {}
        if self._add_object(cache, whole, bad):
            located = {key: (whole, i) for i, key in enumerate(missing)}
        else:
            for key in missing:
                ref = cache.read_ref(key)
                if ref is NOT_LOWERABLE:
                    found[key] = self._loaded[key] = None
                    count_event("cache_hit")
                elif ref is not None and self._add_object(cache, ref[0], bad):
                    located[key] = ref
        for key, (mod_key, index) in located.items():
            address = self._address(mod_key, index)
            if address is None:  # a stale reference: compile it again
                continue
            found[key] = self._loaded[key] = address
            count_event("cache_hit")
        return found

    def _compile(self, cache, rest, builds, unroll=True):
        """Compile the kernels of ``rest`` into one module, cache and load it."""
        with compile_phase("codegen"):
            texts = {}
            for key in rest:
                try:
                    texts[key] = str(builds[key](_provisional_symbol(key)))
                except NotLowerable:
                    continue
        found = {}
        for key in rest:
            if key not in texts:
                found[key] = self._loaded[key] = None
                cache.write_ref(key, NOT_LOWERABLE)
        if not texts:
            return found
        keys = sorted(texts)
        mod_key = module_key(keys)
        count_event("cache_miss", len(keys))
        with compile_phase("llvm_compile"):
            module = self._link(mod_key, keys, [texts[key] for key in keys])
            obj = self.target_machine.emit_object(self.optimize(module, unroll))
        cache.write(mod_key, obj)
        for i, key in enumerate(keys):
            cache.write_ref(key, (mod_key, i))
        with compile_phase("cache_load"):
            self._add_loaded_object(mod_key, obj)
            for i, key in enumerate(keys):
                address = self._address(mod_key, i)
                if address is None:
                    raise RuntimeError(f"LLVM backend: symbol {symbol_name(mod_key, i)} "
                                       "missing from its object code")
                found[key] = self._loaded[key] = address
        return found

    def _link(self, mod_key, keys, texts):
        """One ModuleRef from the kernels' IR texts (kernel ``i`` defines
        ``_provisional_symbol(keys[i])``), renamed to the module's symbols."""
        module = None
        for i, (key, text) in enumerate(zip(keys, texts)):
            part = llvm.parse_assembly(text)
            part.get_function(_provisional_symbol(key)).name = symbol_name(mod_key, i)
            if module is None:
                module = part
            else:
                module.link_in(part)
        # shared helpers are linkonce_odr so that linking keeps one copy;
        # internal lets LLVM drop or inline them like any private function
        for fn in module.functions:
            if fn.linkage == llvm.Linkage.linkonce_odr:
                fn.linkage = llvm.Linkage.internal
        return module


_TOOLCHAIN = None
_TOOLCHAIN_LOCK = threading.Lock()


def toolchain():
    """The process-wide Toolchain (created on first use)."""
    global _TOOLCHAIN
    with _TOOLCHAIN_LOCK:
        if _TOOLCHAIN is None:
            _TOOLCHAIN = Toolchain()
        return _TOOLCHAIN
