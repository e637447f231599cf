# SPDX-License-Identifier: BSL-1.0
# tools/gdb/ebb.py — gdb commands for programs that use ebb fibers.
#
# Load it in a gdb session (gdb built with Python, which Debian's is):
#
#     (gdb) source /path/to/ebb/tools/gdb/ebb.py
#
# or for every session, in ~/.gdbinit:
#
#     source /path/to/ebb/tools/gdb/ebb.py
#
# Commands:
#
#     info ebb-fibers                  every live fiber of the process (the registry's 16 shards):
#                                      address, state, running thread, size, peak, used, max, name
#     ebb-fiber-bt FIBER [BT-ARGS...]  backtrace of a suspended (or not yet started) fiber.
#                                      A compact fiber (ebb::compact_fiber) whose frames were
#                                      copied off its execution stack has no backtrace until it
#                                      runs again: the command says so (info ebb-fibers shows where
#                                      each compact fiber's frames are, column Frames).
#                                      FIBER: an address from `info ebb-fibers`, any expression
#                                      giving one (a fiber_context*, an ebb::fiber object), or a
#                                      fiber's name. BT-ARGS go to `bt` (e.g. `full`, `5`, `-frame-arguments all`).
#     ebb-resumer-bt [FIBER [BT-ARGS]] backtrace of the code waiting in resume() for a running fiber
#                                      (default: the one on the selected thread) — the part of the
#                                      thread's stack that `bt` inside a fiber does not reach.
#     set ebb-bt-method auto|registers|unwinder
#                                      how those two unwind (see below; `help set ebb-bt-method`)
#
# How ebb-fiber-bt works: a suspended fiber's saved stack pointer points at the frame its context
# switch left. Its layout belongs to the architecture port (include/ebb/arch/x86_64_sysv.hpp on
# x86-64: 64 bytes, rbx, rbp, r12–r15 and the return address), and the helper does not hard-code it:
# every program built with ebb carries a small read-only object, ebb_v1_switch_frame_layout
# (include/ebb/arch/frame.hpp gives its format), generated from the same definitions the switch's
# assembly uses; the helper reads it from the inferior (or the executable, for a core file).
# The command points the selected thread's registers at that frame, exactly as if the switch had just
# returned into the fiber (pc = return address, sp = saved sp + frame size, the callee-saved registers
# from the frame), runs `bt`, and puts every register it changed back — also when `bt` fails or is
# interrupted. The
# selected thread must be stopped; the program never runs while its registers are borrowed.
# Where registers cannot be written (a core file), a Python unwinder presents the saved frame as the
# caller of the real innermost frame instead, and a frame filter hides that frame: the same frames,
# numbered from #1.
#
# Compact fibers (include/ebb/mappers/shared_stack.hpp) run on a shared execution stack; a suspended
# one keeps its frames there until another fiber needs the stack, which copies them into storage (and
# back to the same addresses when it resumes). Its saved stack pointer then points at another fiber's
# frames. The helper tells a compact fiber by its operations table (fiber_ops::admit is set only for
# copying mappers), finds its control block's type from that table's symbol
# (detail::switch_protocol<CONTROL>::ops_table), and reads the mapper there: saved_ (bytes of frames in
# storage, 0 when they are on the stack) and stack_ (its execution stack, whose occupant is the fiber
# whose frames are on it).
#
# Only names from ebb::runtime_v1 and the ebb_v1_* assembly symbols are used: they do not depend on
# the build configuration (the inline namespace ebb::v1_c1x1e1vg0h0k0 etc. does). The program needs debug
# information (-g) for at least one translation unit that includes ebb.

import itertools
import re

import gdb

try:
    import gdb.unwinder
    from gdb.unwinder import Unwinder
except ImportError:  # a gdb older than 7.10
    pass

_EBB_REGISTRY_SYMBOL = "ebb::runtime_v1::process_registry_storage"
_EBB_CONTEXT_TYPE = "ebb::runtime_v1::fiber_context"
_EBB_THREAD_STATE_TYPE = "ebb::runtime_v1::thread_state"
_EBB_THREAD_STATE_SYMBOL = "ebb_v1_thread_state"
_EBB_STATE_NAMES = {0: "created", 1: "suspended", 2: "running", 3: "finished"}
_EBB_SHARD_COUNT = 16
_EBB_MASK64 = (1 << 64) - 1
# The switch-frame layout object (include/ebb/arch/frame.hpp), and the version of its format read here.
_EBB_FRAME_LAYOUT_SYMBOL = "ebb_v1_switch_frame_layout"
_EBB_FRAME_LAYOUT_VERSION = 1
_EBB_SLOT_RETURN, _EBB_SLOT_REGISTER, _EBB_SLOT_CONTROL = 0, 1, 2


class EbbError(gdb.GdbError):
    pass


# ---- the switch frame's layout, from the program ---------------------------------------------------

class EbbFrameLayout(object):
    """The frame ebb's context switch leaves on a suspended stack, as the program itself describes it.

    frame_bytes: the frame's size (sp after the switch = saved sp + frame_bytes)
    sp_register: the stack pointer's name; pc_register/return_offset/word: the resume address's slot
    registers: (name, offset, bytes) of each callee-saved register a debugger restores to unwind
    borrowed: every register ebb-fiber-bt changes, in restore order (pc and sp last)"""

    def __init__(self, address):
        inferior = gdb.selected_inferior()

        def read(offset, count):
            return bytes(inferior.read_memory(address + offset, count))

        def read_name(offset):
            raw = read(offset, 16)
            if b"\0" not in raw:
                raise EbbError("ebb: %s at 0x%x is malformed (a register name is not terminated)"
                               % (_EBB_FRAME_LAYOUT_SYMBOL, address))
            name = raw[:raw.index(b"\0")].decode("ascii", "replace")
            return name, (offset + len(name) + 1 + 3) & ~3

        header = read(0, 4)
        version, count = header[0], header[1]
        if version != _EBB_FRAME_LAYOUT_VERSION:
            raise EbbError("ebb: %s has format version %d; this helper reads version %d "
                           "(use the tools/gdb/ebb.py of the ebb the program was built with)"
                           % (_EBB_FRAME_LAYOUT_SYMBOL, version, _EBB_FRAME_LAYOUT_VERSION))
        self.byteorder = _ebb_target_byteorder()
        self.frame_bytes = int.from_bytes(header[2:4], self.byteorder)
        self.sp_register, offset = read_name(4)
        self.address = address
        self.registers, self.control, self.pc_register, self.return_offset, self.word = [], [], None, None, None
        self.slots = []  # (offset, bytes, kind, name) in the object's order, for info ebb-frame-layout
        for _ in range(count):
            entry = read(offset, 4)
            slot_offset, slot_bytes, kind = int.from_bytes(entry[0:2], self.byteorder), entry[2], entry[3]
            name, offset = read_name(offset + 4)
            self.slots.append((slot_offset, slot_bytes, kind, name))
            if kind == _EBB_SLOT_RETURN:
                self.pc_register, self.return_offset, self.word = name, slot_offset, slot_bytes
            elif kind == _EBB_SLOT_REGISTER:
                self.registers.append((name, slot_offset, slot_bytes))
            else:
                self.control.append((name, slot_offset, slot_bytes))
        if self.pc_register is None or self.frame_bytes == 0:
            raise EbbError("ebb: %s at 0x%x is malformed (no return-address slot)"
                           % (_EBB_FRAME_LAYOUT_SYMBOL, address))
        self.borrowed = tuple(name for name, _, _ in self.registers) + (self.sp_register, self.pc_register)

    def read_word(self, address, size=None):
        memory = gdb.selected_inferior().read_memory(address, size or self.word)
        return int.from_bytes(bytes(memory), self.byteorder)


def _ebb_target_byteorder():
    try:
        return "big" if "big endian" in gdb.execute("show endian", to_string=True) else "little"
    except gdb.error:
        return "little"


def ebb_frame_layout():
    """The program's switch-frame layout, read from its ebb_v1_switch_frame_layout object."""
    try:
        address = _ebb_u64(gdb.parse_and_eval("(char *) &'%s'" % _EBB_FRAME_LAYOUT_SYMBOL))
    except gdb.error:
        raise EbbError("ebb: symbol %s not found: the helper reads the context switch's frame layout "
                       "from it. Is this an ebb program (of a version with the layout object, and "
                       "not stripped of its symbol table), and is it running or a core file loaded?"
                       % _EBB_FRAME_LAYOUT_SYMBOL)
    try:
        return EbbFrameLayout(address)
    except gdb.MemoryError:
        raise EbbError("ebb: %s at 0x%x cannot be read" % (_EBB_FRAME_LAYOUT_SYMBOL, address))


def _ebb_sp_register_name():
    """The stack pointer's name for reading it (the layout's, else gdb's generic alias)."""
    try:
        return ebb_frame_layout().sp_register
    except EbbError:
        return "sp"


# ---- what the target needs: return addresses, and which threads are really stopped ---------------

def _ebb_architecture_name():
    try:
        return gdb.selected_inferior().architecture().name()
    except (AttributeError, gdb.error):
        try:
            return gdb.selected_frame().architecture().name()
        except gdb.error:
            return ""


def _ebb_is_code_address(address):
    """Does address lie in a function gdb knows (debug information or the symbol table)?"""
    try:
        if gdb.current_progspace().block_for_pc(address) is not None:
            return True
    except (gdb.error, RuntimeError):
        pass
    try:
        return not gdb.execute("info symbol 0x%x" % address, to_string=True).startswith("No symbol")
    except gdb.error:
        return False


def ebb_code_address(address):
    """The address a saved return slot resumes at, as gdb must be given it for the pc.

    AArch64 under pac-ret (-mbranch-protection=pac-ret or standard): the switch signs the return
    address it saves (the frame's return slot holds lr with a pointer-authentication code in its
    upper bits), and a pc with those bits set names no function. The code is stripped with the mask
    the target reports (gdb's pauth_cmask register, present when the target describes the pauth
    feature: Linux native and gdbserver do; qemu-user 7.2's gdbstub does not). Without it, with the
    user-space address sizes Linux uses (48, 52, 47, 42, 39 or 36 bits), keeping the first that
    names a function. On other targets, and for an unsigned address, the value is returned as is."""
    if not _ebb_architecture_name().startswith("aarch64"):
        return address
    try:
        cmask = _ebb_u64(gdb.newest_frame().read_register("pauth_cmask"))
    except (ValueError, gdb.error):
        cmask = None
    if cmask:
        stripped = address & ~cmask & _EBB_MASK64
        if not stripped >> 55 & 1:  # a user-space (low half) address: the top byte is not address
            stripped &= (1 << 56) - 1
        return stripped
    if _ebb_is_code_address(address):
        return address
    for bits in (48, 52, 47, 42, 39, 36):
        candidate = address & ((1 << bits) - 1)
        if candidate != address and _ebb_is_code_address(candidate):
            return candidate
    return address


# qemu-user's gdbstub (qemu 7.2 at least) stops only the thread that reports a stop (a breakpoint, a
# signal): every other thread of the program keeps running while gdb shows it as stopped. Reading
# such a thread's registers is harmless (a snapshot); writing them is not: the thread runs on with the
# borrowed values (found under qemu-aarch64: ebb-fiber-bt with a second, busy thread selected printed a
# broken backtrace, and that program never finished). The helper therefore remembers which thread
# reported each stop, and under qemu borrows only that thread's registers; for the others it uses the
# unwinder, which writes nothing.
_ebb_stop_threads = globals().get("_ebb_stop_threads", {})  # inferior number -> global thread number


def _ebb_on_stop(event):
    try:
        thread = gdb.selected_thread()  # all-stop: gdb has selected the thread that reported the stop
        if thread is not None:
            _ebb_stop_threads[thread.inferior.num] = thread.global_num
    except (gdb.error, AttributeError, RuntimeError):
        pass


def _ebb_forget_stops(event):
    try:
        _ebb_stop_threads.pop(event.inferior.num, None)
    except AttributeError:
        _ebb_stop_threads.clear()


try:  # sourcing the helper again must not connect the handlers twice
    gdb.events.stop.disconnect(globals()["_ebb_connected_on_stop"])
    gdb.events.exited.disconnect(globals()["_ebb_connected_forget_stops"])
except (KeyError, ValueError, RuntimeError):
    pass
_ebb_connected_on_stop, _ebb_connected_forget_stops = _ebb_on_stop, _ebb_forget_stops
gdb.events.stop.connect(_ebb_on_stop)
gdb.events.exited.connect(_ebb_forget_stops)


def _ebb_on_qemu_user(inferior):
    """Is this inferior debugged through qemu's gdbstub with more than one thread?

    qemu names its threads "CPU#N [running]" (or "[halted ]") in the thread details it reports."""
    try:
        threads = inferior.threads()
        if len(threads) < 2:
            return False
        for thread in threads:
            try:
                details = thread.details
            except AttributeError:  # a gdb older than 12
                details = None
            if details is None:
                continue
            if re.match(r"^CPU#\d+ \[", details):
                return True
        return False
    except gdb.error:
        return False


def _ebb_thread_may_be_running(thread):
    """Under qemu-user: is thread possibly running (any thread but the one that reported the stop)?"""
    inferior = thread.inferior
    if not _ebb_on_qemu_user(inferior):
        return False
    return _ebb_stop_threads.get(inferior.num) != thread.global_num


# ---- reading the registry ------------------------------------------------------------------------

def _ebb_u64(value):
    return int(value) & _EBB_MASK64


def _ebb_context_type():
    try:
        return gdb.lookup_type(_EBB_CONTEXT_TYPE)
    except gdb.error:
        raise EbbError("ebb: type %s not found: is this an ebb program with debug information (-g)?"
                       % _EBB_CONTEXT_TYPE)


def _ebb_registry_values():
    """Every definition of the process-wide registry the symbol tables know, as registry_state values.

    The registry is one object per process (default visibility, merged by the dynamic linker), but
    each shared library built with ebb carries a definition; unused copies hold empty shards."""
    found, seen = [], set()
    symbols = []
    try:
        for objfile in gdb.objfiles():
            symbol = objfile.lookup_global_symbol(_EBB_REGISTRY_SYMBOL)
            if symbol is not None:
                symbols.append(symbol)
    except (AttributeError, gdb.error):
        pass
    if not symbols:
        symbol = gdb.lookup_global_symbol(_EBB_REGISTRY_SYMBOL)
        if symbol is None:
            symbol = gdb.lookup_symbol(_EBB_REGISTRY_SYMBOL)[0]
        if symbol is not None:
            symbols.append(symbol)
    for symbol in symbols:
        try:
            value = symbol.value()
            address = _ebb_u64(value.address)
        except gdb.error:
            continue
        if address in seen:
            continue
        seen.add(address)
        # never_destroyed<registry_state> is a union whose member `value` is the registry.
        if any(field.name == "value" for field in value.type.strip_typedefs().fields()):
            value = value["value"]
        found.append(value)
    if not found:
        raise EbbError("ebb: %s not found: is this an ebb program with debug information (-g), "
                       "and is it running (or a core file loaded)?" % _EBB_REGISTRY_SYMBOL)
    return found


class EbbFiber(object):
    """A snapshot of one fiber_context."""

    def __init__(self, context, shard):
        self.context = context
        self.address = _ebb_u64(context.address)
        self.shard = shard
        uchar = gdb.lookup_type("unsigned char").pointer()
        # std::atomic<fiber_state> holds one byte; read it raw, whatever the standard library names
        # its member.
        raw = int(context["state"].address.cast(uchar).dereference())
        self.state_code = raw
        self.state = _EBB_STATE_NAMES.get(raw, "state=%d" % raw)
        self.sp = _ebb_u64(context["sp"])
        self.caller_sp = _ebb_u64(context["caller_sp"])
        self.parent = _ebb_u64(context["parent"])
        self.stack_top = _ebb_u64(context["stack_top"])
        self.stack_limit = _ebb_u64(context["stack_limit"])
        self.guard_lo = _ebb_u64(context["guard_lo"])
        self.size = _ebb_u64(context["size"])
        self.peak = _ebb_u64(context["peak"])
        self.max_size = _ebb_u64(context["max_size"])
        self.name = _ebb_read_name(context["name"])
        # Compact fibers: where the frames are ("stack", "saved", "none" before the first run, None if
        # the helper cannot tell), and for saved ones how many bytes, where.
        self.compact, self.frames, self.saved_bytes, self.storage = _ebb_compact_frames(context, self.address)
        self.thread = None        # gdb thread running it, if running
        self.thread_note = ""     # how it runs there ("resumed 'inner'")
        self.running_sp = None    # its current stack pointer, if known

    def label(self):
        return "'%s'" % self.name if self.name else "(unnamed)"

    def holds(self, address):
        """Is address inside this fiber's stack (frames, not the control block)?"""
        low = self.guard_lo or self.stack_limit
        return low <= address <= self.stack_top

    def used(self):
        if self.state in ("suspended", "created"):
            sp = self.sp
        elif self.state == "running":
            sp = self.running_sp
        else:
            return None
        if sp is None or not self.holds(sp):
            return None
        return self.stack_top - sp


_ebb_control_types = {}  # ops table address -> the control block's gdb.Type (None: not found)


def _ebb_control_type(ops_address):
    """The type of the control block whose operations table is at ops_address, from the table's symbol
    (ebb::<ns>::detail::switch_protocol<CONTROL>::ops_table), or None."""
    if ops_address in _ebb_control_types:
        return _ebb_control_types[ops_address]
    found = None
    try:
        text = gdb.execute("info symbol 0x%x" % ops_address, to_string=True)
        start = text.find("switch_protocol<")
        if start >= 0:
            start += len("switch_protocol<")
            depth, end = 1, start
            while end < len(text) and depth:
                depth += {"<": 1, ">": -1}.get(text[end], 0)
                end += 1
            name = text[start:end - 1].strip()
            # The demangler writes integer template arguments with suffixes (2048ul); the debug
            # information names the type without them.
            plain = re.sub(r"\b(\d+)(?:ul|lu|ull|llu|u|l|ll)\b", r"\1", name)
            for candidate in (name, plain):
                try:
                    found = gdb.lookup_type(candidate)
                    break
                except gdb.error:
                    continue
    except (gdb.error, RuntimeError):
        pass
    _ebb_control_types[ops_address] = found
    return found


def _ebb_compact_frames(context, address):
    """(compact, frames, saved_bytes, storage) for a fiber_context: see EbbFiber."""
    try:
        ops = context["ops"]
        if _ebb_u64(ops) == 0 or _ebb_u64(ops.dereference()["admit"]) == 0:
            return False, None, 0, 0
    except (gdb.error, gdb.MemoryError):
        return False, None, 0, 0
    control_type = _ebb_control_type(_ebb_u64(ops))
    if control_type is None:
        return True, None, 0, 0
    try:
        mapper = context.address.cast(control_type.pointer()).dereference()["mapper"]
        saved = _ebb_u64(mapper["saved_"])
        stack = mapper["stack_"]
        if saved:
            return True, "saved", saved, _ebb_u64(mapper["storage_"])
        if _ebb_u64(stack) == 0:
            return True, "none", 0, 0
        occupant = _ebb_u64(stack.dereference()["occupant"])
        running = _ebb_u64(stack.dereference()["running"])
        if address in (occupant, running):
            return True, "stack", 0, 0
        return True, "elsewhere", 0, 0  # neither saved nor on the stack: finished, or inconsistent
    except (gdb.error, gdb.MemoryError, RuntimeError):
        return True, None, 0, 0


def _ebb_read_name(pointer):
    try:
        if _ebb_u64(pointer) == 0:
            return ""
        return pointer.string(length=-1, errors="replace")[:200]
    except (gdb.error, gdb.MemoryError):
        return "<unreadable name at 0x%x>" % _ebb_u64(pointer)


def ebb_registry_fibers():
    """All fibers in the registry, shard by shard, in slot order (detail/registry_slots.hpp)."""
    context_pointer = _ebb_context_type().pointer()
    fibers, seen, warnings = [], set(), []
    for registry in _ebb_registry_values():
        shards = registry["shards"]
        for index in range(_EBB_SHARD_COUNT):
            shard = shards[index]
            used = _ebb_u64(shard["used"])
            chunk_count = _ebb_u64(shard["chunk_count"])
            try:
                locked = int(shard["locked"].address.cast(gdb.lookup_type("unsigned char").pointer()).dereference())
            except gdb.error:
                locked = 0
            if locked:
                warnings.append("shard %d was locked when the program stopped: its slots may be "
                                "changing" % index)
            def chunk_at(k, per_block=1024):
                return shard["blocks"][k // per_block].dereference()["chunks"][k % per_block]
            try:
                per_chunk = int(chunk_at(0).dereference()["slots"].type.range()[1]) + 1 if chunk_count else 256
            except (gdb.error, gdb.MemoryError):
                per_chunk = 256
            if used > chunk_count * per_chunk:
                warnings.append("shard %d: %d slots used but only %d chunks" % (index, used, chunk_count))
                used = chunk_count * per_chunk
            for slot_index in range(used):
                try:
                    chunk = chunk_at(slot_index // per_chunk)
                    # std::atomic<fiber_context*>: read the pointer it holds through its address.
                    field = chunk.dereference()["slots"][slot_index % per_chunk]["fiber"]
                    node = field.address.cast(context_pointer.pointer()).dereference()
                except (gdb.error, gdb.MemoryError) as error:
                    warnings.append("shard %d: cannot read slot %d: %s" % (index, slot_index, error))
                    break
                address = _ebb_u64(node)
                if address == 0:
                    continue
                if address in seen:
                    warnings.append("shard %d: fiber 0x%x is in two slots" % (index, address))
                    continue
                seen.add(address)
                try:
                    fibers.append(EbbFiber(node.dereference(), index))
                except (gdb.error, gdb.MemoryError) as error:
                    warnings.append("shard %d: cannot read fiber at 0x%x: %s" % (index, address, error))
    return fibers, warnings


# ---- which thread runs which fiber ---------------------------------------------------------------

class _EbbKeepSelection(object):
    """Restore the selected thread and frame on exit."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        self.level = None
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            pass
        return self

    def __exit__(self, *exc):
        try:
            if self.thread is not None and self.thread.is_valid():
                self.thread.switch()
                if self.level is not None:
                    _ebb_select_level(self.level)
        except gdb.error:
            pass
        return False


def _ebb_select_level(level):
    frame = gdb.newest_frame()
    for _ in range(level):
        older = frame.older()
        if older is None:
            break
        frame = older
    frame.select()


def _ebb_thread_current_fiber(thread_state_pointer):
    """The thread's ebb_v1_thread_state.current, or None when it cannot be read."""
    try:
        address = _ebb_u64(gdb.parse_and_eval("&" + _EBB_THREAD_STATE_SYMBOL))
        state = gdb.Value(address).cast(thread_state_pointer).dereference()
        return _ebb_u64(state["current"])
    except (gdb.error, gdb.MemoryError, RuntimeError):
        return None


def ebb_attribute_threads(fibers):
    """Set .thread on running fibers: by the thread-local `current` of each thread (the thread-state
    symbol, via libthread_db), else by which fiber stack holds the thread's stack pointer. Fibers a
    running fiber resumed from inside itself (nested) are running too, on the same thread: they
    are found through the `parent` links."""
    by_address = {fiber.address: fiber for fiber in fibers}
    inferior = gdb.selected_inferior()
    if inferior is None or inferior.pid == 0 and not inferior.threads():
        return
    try:
        thread_state_pointer = gdb.lookup_type(_EBB_THREAD_STATE_TYPE).pointer()
    except gdb.error:
        thread_state_pointer = None
    sp_register = _ebb_sp_register_name()
    with _EbbKeepSelection():
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            try:
                if not thread.is_valid() or thread.is_running():
                    continue
                thread.switch()
                sp = _ebb_u64(gdb.newest_frame().read_register(sp_register))
            except gdb.error:
                continue
            current = _ebb_thread_current_fiber(thread_state_pointer) if thread_state_pointer else None
            fiber = by_address.get(current) if current else None
            if fiber is None:
                for candidate in fibers:
                    if candidate.state == "running" and candidate.thread is None and candidate.holds(sp):
                        fiber = candidate
                        break
            if fiber is None:
                continue
            fiber.thread = thread
            if fiber.holds(sp):
                fiber.running_sp = sp
            # Fibers waiting in resume() for the current one, innermost first.
            child, hops = fiber, 0
            while child.parent and hops < len(fibers):
                parent = by_address.get(child.parent)
                if parent is None or parent.thread is not None:
                    break
                parent.thread = thread
                parent.thread_note = "resumed %s" % child.label()
                parent.running_sp = child.caller_sp if parent.holds(child.caller_sp) else None
                child, hops = parent, hops + 1


def _ebb_thread_label(thread):
    name = ""
    try:
        if thread.name:
            name = ' "%s"' % thread.name
    except gdb.error:
        pass
    lwp = thread.ptid[1] if thread.ptid else 0
    return "%d (LWP %d)%s" % (thread.num, lwp, name) if lwp else "%d%s" % (thread.num, name)


# ---- info ebb-fibers ------------------------------------------------------------------------------

def _ebb_frames_cell(fiber):
    """info ebb-fibers' Frames column: where a compact fiber's frames are."""
    if not fiber.compact:
        return "in place"
    if fiber.state == "finished":
        return "-"
    return {"stack": "on exec stack", "saved": "saved (%d B)" % fiber.saved_bytes, "none": "none yet",
            "elsewhere": "?", None: "compact, ?"}[fiber.frames]


class InfoEbbFibers(gdb.Command):
    """List every ebb fiber of the process: info ebb-fibers

Walks the 16 shards of the process-wide registry (ebb::runtime_v1::process_registry_storage) and
prints, for each live fiber: its address (the fiber_context, usable with ebb-fiber-bt), state
(created, suspended, running, finished), the thread running it, the logical stack size, the peak
use since the last shrink point, the bytes in use now, the maximum size, and its name.

"used" is stack_top minus the saved stack pointer for a suspended or created fiber, minus the
thread's stack pointer for a running one. A running fiber that resumed another fiber shows the
thread too, with "resumed 'NAME'": it waits inside resume() on that thread.

When compact fibers are listed, a column Frames says where each fiber's frames are: "in place" (an
ordinary fiber), "on exec stack" (a compact fiber's frames at their addresses on its execution stack),
"saved (N B)" (copied into storage: not at their addresses, no backtrace until it runs), "none yet"
(a compact fiber that never ran)."""

    def __init__(self):
        super(InfoEbbFibers, self).__init__("info ebb-fibers", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        if argument.strip():
            raise EbbError("usage: info ebb-fibers")
        fibers, warnings = ebb_registry_fibers()
        ebb_attribute_threads(fibers)
        counts = {}
        for fiber in fibers:
            counts[fiber.state] = counts.get(fiber.state, 0) + 1
        summary = ", ".join("%d %s" % (counts[s], s) for s in
                            ("running", "suspended", "created", "finished") if s in counts)
        gdb.write("%d ebb fiber%s%s\n" % (len(fibers), "" if len(fibers) == 1 else "s",
                                          (": " + summary) if summary else ""))
        if fibers:
            compact = any(fiber.compact for fiber in fibers)
            rows = [("Fiber", "State", "Thread", "Size", "Peak", "Used", "Max") +
                    (("Frames",) if compact else ()) + ("Name",)]
            for fiber in fibers:
                used = fiber.used()
                if fiber.thread is not None:
                    thread = _ebb_thread_label(fiber.thread)
                    if fiber.thread_note:
                        thread += ", " + fiber.thread_note
                elif fiber.state == "running":
                    thread = "running (thread unknown)"
                else:
                    thread = "-"
                row = ("0x%x" % fiber.address, fiber.state, thread, str(fiber.size),
                       str(fiber.peak), "-" if used is None else str(used), str(fiber.max_size))
                if compact:
                    row += (_ebb_frames_cell(fiber),)
                rows.append(row + (fiber.label(),))
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
            for row in rows:
                cells = [row[i].ljust(widths[i]) if i < 3 or i == 7 else row[i].rjust(widths[i])
                         for i in range(len(widths))]
                gdb.write("  " + "  ".join(cells) + "  " + row[-1] + "\n")
        inferior = gdb.selected_inferior()
        if inferior is not None and _ebb_on_qemu_user(inferior):
            stopped = _ebb_stop_threads.get(inferior.num)
            stopped = next((t.num for t in inferior.threads() if t.global_num == stopped), None)
            warnings.append("under qemu-user only the thread that reported the stop (%s) is stopped; the "
                            "others run on, so the fibers they run may change state while you look"
                            % ("thread %d" % stopped if stopped is not None else "unknown: the helper "
                               "was loaded after it"))
        for warning in warnings:
            gdb.write("warning: ebb: %s\n" % warning)


class InfoEbbFrameLayout(gdb.Command):
    """Show the switch frame's layout as the program describes it: info ebb-frame-layout

Prints what the helper reads from the program's ebb_v1_switch_frame_layout object (generated from the
port's frame definition, include/ebb/arch/<port>.hpp): the frame's size, the stack-pointer register,
and each slot's offset from the saved stack pointer, size, kind (return: the resume address;
register: a callee-saved register the backtrace commands restore; control: state the switch
restores that unwinding does not need) and the register's name."""

    _KINDS = {_EBB_SLOT_RETURN: "return", _EBB_SLOT_REGISTER: "register", _EBB_SLOT_CONTROL: "control"}

    def __init__(self):
        super(InfoEbbFrameLayout, self).__init__("info ebb-frame-layout", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        if argument.strip():
            raise EbbError("usage: info ebb-frame-layout")
        layout = ebb_frame_layout()
        gdb.write("%s at 0x%x: %d-byte frame, %d slots, %s endian; after the switch %s = saved sp + %d\n"
                  % (_EBB_FRAME_LAYOUT_SYMBOL, layout.address, layout.frame_bytes, len(layout.slots),
                     layout.byteorder, layout.sp_register, layout.frame_bytes))
        gdb.write("  Offset  Bytes  Kind      Register\n")
        for offset, size, kind, name in layout.slots:
            gdb.write("  %6d  %5d  %-8s  %s\n" % (offset, size, self._KINDS.get(kind, "kind=%d" % kind), name))


# ---- ebb-fiber-bt ---------------------------------------------------------------------------------

def _ebb_resolve_fiber(spec, fibers):
    """The registry fiber named by spec: an expression (address, fiber_context*, ebb::fiber), or a name."""
    by_address = {fiber.address: fiber for fiber in fibers}
    address, problem = None, None
    try:
        value = gdb.parse_and_eval(spec)
        value_type = value.type.strip_typedefs()
        if value_type.code == gdb.TYPE_CODE_REF:
            value = value.referenced_value()
            value_type = value.type.strip_typedefs()
        if value_type.code == gdb.TYPE_CODE_STRUCT and any(f.name == "ctl_" for f in value_type.fields()):
            value = value["ctl_"]  # an ebb::basic_fiber object: its control block starts with the context
            value_type = value.type.strip_typedefs()
        if value_type.code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_INT):
            address = _ebb_u64(value)
        else:
            problem = "%s is a %s, not a fiber address" % (spec, value.type)
    except gdb.error as error:
        problem = str(error)
    if address is not None:
        if address in by_address:
            return by_address[address]
        if address == 0:
            raise EbbError("ebb: %s is null (an empty or moved-from fiber?)" % spec)
        problem = "0x%x is not a live fiber in ebb's registry (see info ebb-fibers)" % address
    named = [fiber for fiber in fibers if fiber.name == spec]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise EbbError("ebb: %d fibers are named '%s'; give an address: %s"
                       % (len(named), spec, ", ".join("0x%x" % f.address for f in named)))
    raise EbbError("ebb: no fiber %s: %s" % (spec, problem))


class _EbbRegistersNotWritable(Exception):
    pass


def _ebb_backtrace_from_saved_frame(layout, sp, bt_arguments):
    """Run `bt` as if the switch frame saved at sp had just been switched to: pc = its return
    address, sp = saved sp + the frame size, the callee-saved registers from the frame."""
    thread = gdb.selected_thread()
    if thread is None:
        raise EbbError("ebb: no thread selected (is the program running, or a core file loaded?)")
    if not thread.is_stopped():
        raise EbbError("ebb: the selected thread is running; interrupt it first")
    try:
        saved = {name: layout.read_word(sp + offset, size) for name, offset, size in layout.registers}
        saved[layout.pc_register] = ebb_code_address(layout.read_word(sp + layout.return_offset))
    except gdb.MemoryError:
        raise EbbError("ebb: the saved frame at 0x%x cannot be read" % sp)
    saved[layout.sp_register] = sp + layout.frame_bytes
    method = _ebb_bt_method.value
    if method != "unwinder" and _ebb_thread_may_be_running(thread):
        if method == "registers":
            raise EbbError("ebb: thread %d may still be running: qemu-user's gdbstub stops only the thread "
                           "that reported the stop, and writing a running thread's registers would corrupt "
                           "it (select that thread, or set ebb-bt-method auto or unwinder)" % thread.num)
        gdb.write("(thread %d did not report the stop and may be running under qemu-user: "
                  "its registers are not borrowed)\n" % thread.num)
        method = "unwinder"
    if method == "unwinder":
        _ebb_bt_with_unwinder(layout, saved, bt_arguments)
        return
    try:
        _ebb_bt_with_borrowed_registers(thread, layout.borrowed, saved, bt_arguments)
    except _EbbRegistersNotWritable:
        if method == "registers":
            raise EbbError("ebb: the registers of thread %d cannot be written here "
                           "(set ebb-bt-method auto or unwinder)" % thread.num)
        # A core file (or a replay target) has registers gdb cannot write: unwind from the saved
        # frame with a Python unwinder instead, hiding the real innermost frame.
        _ebb_bt_with_unwinder(layout, saved, bt_arguments)


def _ebb_bt_with_borrowed_registers(thread, names, borrowed, bt_arguments):
    level = gdb.selected_frame().level()
    gdb.newest_frame().select()  # a write in an outer frame would go to that frame's save slot
    frame = gdb.newest_frame()
    original = {name: _ebb_u64(frame.read_register(name)) for name in names}
    failure = None
    try:
        for name in names:
            try:
                gdb.execute("set $%s = 0x%x" % (name, borrowed[name]), to_string=True)
            except gdb.error:
                raise _EbbRegistersNotWritable()
        try:
            gdb.execute(("bt " + bt_arguments).strip(), from_tty=False)
        except gdb.error as error:
            raise EbbError("ebb: bt failed: %s" % error)
    finally:
        # Put everything back, even after an error or a Ctrl-C in the middle of `bt`.
        gdb.newest_frame().select()
        for name in names:
            try:
                gdb.execute("set $%s = 0x%x" % (name, original[name]), to_string=True)
            except gdb.error as error:
                failure = "could not restore $%s: %s" % (name, error)
        frame = gdb.newest_frame()
        wrong = [name for name in names if _ebb_u64(frame.read_register(name)) != original[name]]
        if wrong or failure:
            gdb.write("ebb: ERROR: registers of thread %d not restored (%s); their values were: %s\n"
                      % (thread.num, failure or ", ".join(wrong),
                         ", ".join("$%s = 0x%x" % (n, original[n]) for n in names)), gdb.STDERR)
        try:
            _ebb_select_level(level)
        except gdb.error:
            pass


# ---- the same without writing registers (core files) ---------------------------------------------

class _EbbFrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _EbbSavedFrameUnwinder(Unwinder if "Unwinder" in globals() else object):
    """Claims the innermost frame while active and says its caller is the saved fiber frame."""

    def __init__(self):
        super(_EbbSavedFrameUnwinder, self).__init__("ebb-saved-frame")
        self.saved = None
        self.layout = None

    def __call__(self, pending_frame):
        if self.saved is None or pending_frame.level() != 0:
            return None
        sp = pending_frame.read_register(self.layout.sp_register)
        pc = pending_frame.read_register(self.layout.pc_register)
        # The frame's identity uses the fiber's saved stack pointer, not the thread's own: gdb stops
        # unwinding ("previous frame inner to this frame") where a caller's frame lies below its
        # callee's, and the fiber's stack may lie anywhere relative to the thread's (below it, the
        # backtrace ended after one frame). The saved sp is below every frame of the fiber.
        frame_sp = self.saved[self.layout.sp_register] - self.layout.frame_bytes
        info = pending_frame.create_unwind_info(_EbbFrameId(gdb.Value(frame_sp).cast(sp.type), pc))
        for name, value in self.saved.items():
            info.add_saved_register(name, gdb.Value(value).cast(
                sp.type if name != self.layout.pc_register else pc.type))
        return info


class _EbbSkipInnermostFrame(object):
    """A frame filter, enabled only while the unwinder is: drops the real innermost frame."""

    def __init__(self):
        self.name = "ebb-skip-innermost"
        self.priority = 100
        self.enabled = False

    def filter(self, frame_iterator):
        return itertools.islice(frame_iterator, 1, None)


_ebb_saved_frame_unwinder = None
_ebb_skip_innermost = _EbbSkipInnermostFrame()


def _ebb_bt_with_unwinder(layout, saved, bt_arguments):
    global _ebb_saved_frame_unwinder
    level = gdb.selected_frame().level()  # registering an unwinder resets the selection
    if _ebb_saved_frame_unwinder is None:
        if "Unwinder" not in globals():
            raise EbbError("ebb: this gdb can neither write registers here nor load Python unwinders")
        _ebb_saved_frame_unwinder = _EbbSavedFrameUnwinder()
        gdb.unwinder.register_unwinder(None, _ebb_saved_frame_unwinder, replace=True)
        gdb.frame_filters[_ebb_skip_innermost.name] = _ebb_skip_innermost
    gdb.write("(unwound without writing registers: frames are numbered from #1)\n")
    try:
        _ebb_saved_frame_unwinder.layout = layout
        _ebb_saved_frame_unwinder.saved = {name: value for name, value in saved.items()}
        _ebb_skip_innermost.enabled = True
        gdb.invalidate_cached_frames()
        try:
            gdb.execute(("bt " + bt_arguments).strip(), from_tty=False)
        except gdb.error as error:
            raise EbbError("ebb: bt failed: %s" % error)
    finally:
        _ebb_saved_frame_unwinder.saved = None
        _ebb_skip_innermost.enabled = False
        gdb.invalidate_cached_frames()
        try:
            _ebb_select_level(level)
        except gdb.error:
            pass


class _EbbBtMethod(gdb.Parameter):
    """How ebb-fiber-bt and ebb-resumer-bt unwind from a saved frame.

auto       borrow the selected thread's registers (exact, frames numbered from #0); where they
           cannot be written (a core file), use the unwinder
registers  only borrow registers
unwinder   never write registers: a Python unwinder presents the saved frame as the caller of the
           real innermost frame, which a frame filter hides (frames are numbered from #1)"""

    set_doc = "Set how ebb-fiber-bt unwinds from a fiber's saved frame."
    show_doc = "Show how ebb-fiber-bt unwinds from a fiber's saved frame."

    def __init__(self):
        super(_EbbBtMethod, self).__init__("ebb-bt-method", gdb.COMMAND_STACK, gdb.PARAM_ENUM,
                                           ["auto", "registers", "unwinder"])
        self.value = "auto"

    def get_set_string(self):
        return ""

    def get_show_string(self, value):
        return "ebb-fiber-bt unwinds with: %s" % value


_ebb_bt_method = _EbbBtMethod()


def _ebb_check_compact_frames(fiber, what):
    """Refuse a backtrace of a compact fiber whose frames are not at their addresses."""
    if not fiber.compact:
        return
    if fiber.frames == "saved":
        raise EbbError("ebb: %s is a compact fiber whose frames are saved: %d bytes were copied off its "
                       "execution stack into storage at 0x%x when another fiber needed the stack, so its "
                       "saved stack pointer 0x%x points at another fiber's frames. No backtrace until it "
                       "runs again (its frames are copied back then); break where it resumes, or run it "
                       "on a stack of its own (ebb::fiber) to debug it"
                       % (what, fiber.saved_bytes, fiber.storage, fiber.sp))
    if fiber.frames == "none" or (fiber.state == "created" and fiber.sp == 0):
        raise EbbError("ebb: %s is a compact fiber that never ran: it has no frames yet (its first "
                       "frame is made on its execution stack when it first runs)" % what)
    if fiber.frames == "elsewhere":
        raise EbbError("ebb: %s is a compact fiber whose frames are neither saved nor on its execution "
                       "stack (the helper read an inconsistent state)" % what)
    if fiber.frames is None:
        gdb.write("warning: ebb: %s is a compact fiber, and the helper could not read its control block "
                  "(no debug information for its type?): if its frames were copied off its execution "
                  "stack, the backtrace below shows another fiber's frames\n" % what)


class EbbFiberBt(gdb.Command):
    """Backtrace of a suspended ebb fiber: ebb-fiber-bt FIBER [BT-ARGS...]

FIBER is a fiber address as listed by `info ebb-fibers`, an expression giving one (a
fiber_context pointer, or an ebb::fiber object such as a local variable), or the fiber's name
(quote names with spaces). BT-ARGS are passed to `bt`: e.g. `ebb-fiber-bt 0x7ffff66bee40 full`.

The selected thread's registers are pointed at the frame the fiber's last context switch saved
(as if the switch had just returned into the fiber), `bt` runs, and every register is restored,
also on error. The backtrace ends at the fiber's entry trampoline (ebb_v1_x86_64_sysv_fiber_start
on x86-64).

Refused for a running fiber (select its thread and use `bt`) and for a finished one; and for a
compact fiber whose frames were copied off its execution stack (they are not at their addresses
until it runs again), or that never ran (it has no frames yet)."""

    def __init__(self):
        super(EbbFiberBt, self).__init__("ebb-fiber-bt", gdb.COMMAND_STACK, gdb.COMPLETE_EXPRESSION)

    def invoke(self, argument, from_tty):
        argv = gdb.string_to_argv(argument)
        if not argv:
            raise EbbError("usage: ebb-fiber-bt FIBER [BT-ARGS...]  (FIBER: address or name, "
                           "see info ebb-fibers)")
        spec, bt_arguments = argv[0], " ".join(argv[1:])
        fibers, _ = ebb_registry_fibers()
        fiber = _ebb_resolve_fiber(spec, fibers)
        layout = ebb_frame_layout()
        what = "fiber 0x%x %s" % (fiber.address, fiber.label())
        if fiber.state == "running":
            ebb_attribute_threads(fibers)
            if fiber.thread is not None and not fiber.thread_note:
                where = "on thread %d: use `thread %d` and `bt`" % (fiber.thread.num, fiber.thread.num)
            elif fiber.thread is not None:
                where = "on thread %d (it %s and waits in resume())" % (fiber.thread.num, fiber.thread_note)
            else:
                where = "on some thread"
            raise EbbError("ebb: %s is running %s; ebb-fiber-bt shows suspended fibers only" % (what, where))
        if fiber.state == "finished":
            raise EbbError("ebb: %s has finished: it has no frames" % what)
        if fiber.state not in ("suspended", "created"):
            raise EbbError("ebb: %s is in an unknown state (%s)" % (what, fiber.state))
        _ebb_check_compact_frames(fiber, what)
        if (fiber.sp % layout.word != 0 or not fiber.holds(fiber.sp)
                or fiber.stack_top - fiber.sp < layout.frame_bytes):
            raise EbbError("ebb: %s: saved stack pointer 0x%x lies outside its stack [0x%x, 0x%x]"
                           % (what, fiber.sp, fiber.guard_lo or fiber.stack_limit, fiber.stack_top))
        gdb.write("%s %s, saved sp 0x%x, %d bytes in use%s:\n"
                  % (what, fiber.state, fiber.sp, fiber.stack_top - fiber.sp,
                     " (not started yet)" if fiber.state == "created" else ""))
        _ebb_backtrace_from_saved_frame(layout, fiber.sp, bt_arguments)


class EbbResumerBt(gdb.Command):
    """Backtrace of the code that resumed a running fiber: ebb-resumer-bt [FIBER [BT-ARGS...]]

A backtrace taken inside a fiber ends at the fiber's entry (ebb_v1_<arch>_fiber_start). The
code that called resume() for it (the thread's own stack, main() or a worker loop, or another fiber
that resumed this one) waits in that resume(), its registers saved by the context switch at the
fiber's caller_sp, in the same frame layout as a suspended fiber's. This command shows that
backtrace, with the same register borrowing and restoring as ebb-fiber-bt.

FIBER defaults to the fiber running on the selected thread; it must be running (or waiting in
resume() for a fiber it resumed). "-" as FIBER means that default, to pass BT-ARGS."""

    def __init__(self):
        super(EbbResumerBt, self).__init__("ebb-resumer-bt", gdb.COMMAND_STACK, gdb.COMPLETE_EXPRESSION)

    def invoke(self, argument, from_tty):
        argv = gdb.string_to_argv(argument)
        fibers, _ = ebb_registry_fibers()
        ebb_attribute_threads(fibers)
        if argv and argv[0] != "-":
            fiber = _ebb_resolve_fiber(argv[0], fibers)
        else:
            thread = gdb.selected_thread()
            innermost = [f for f in fibers if f.thread is not None and thread is not None and
                         f.thread.num == thread.num and not f.thread_note]
            if not innermost:
                raise EbbError("ebb: no fiber is running on the selected thread")
            fiber = innermost[0]
        bt_arguments = " ".join(argv[1:])
        what = "fiber 0x%x %s" % (fiber.address, fiber.label())
        if fiber.state != "running":
            raise EbbError("ebb: %s is %s, not running: nothing waits in resume() for it"
                           % (what, fiber.state))
        layout = ebb_frame_layout()
        sp = fiber.caller_sp
        by_address = {f.address: f for f in fibers}
        parent = by_address.get(fiber.parent) if fiber.parent else None
        if sp == 0 or sp % layout.word != 0 or (parent is not None and not parent.holds(sp)):
            raise EbbError("ebb: %s: its resumer's saved stack pointer 0x%x is not usable" % (what, sp))
        try:
            layout.read_word(sp + layout.return_offset)
        except gdb.MemoryError:
            raise EbbError("ebb: %s: its resumer's saved frame at 0x%x is unreadable" % (what, sp))
        resumer = ("fiber 0x%x %s" % (parent.address, parent.label())) if parent else "the thread's own stack"
        gdb.write("resumer of %s: %s, saved sp 0x%x:\n" % (what, resumer, sp))
        _ebb_backtrace_from_saved_frame(layout, sp, bt_arguments)


InfoEbbFibers()
InfoEbbFrameLayout()
EbbFiberBt()
EbbResumerBt()

if not globals().get("_ebb_gdb_banner_shown"):
    _ebb_gdb_banner_shown = True
    gdb.write("ebb gdb helper loaded: info ebb-fibers | ebb-fiber-bt FIBER [bt args] | "
              "ebb-resumer-bt [FIBER] (see `help ebb-fiber-bt`)\n")
