# Start-up of the virtual board (MicroPython code, run by the unix port as `micropython -i _vb_start.py ARGS`).
#
# It makes the unix port look like an ESP32 after a reset: the board's folder becomes "/" (nothing outside it is
# reachable), the shims and the host state folder are served under hidden paths, the file system has an ESP32's
# capacity (and optionally its write speed), then boot.py and main.py run like pyexec_file does on a chip, and
# `-i` leaves us at the friendly REPL.
#
# ARGS is the path of a JSON file the host wrote: root, shims, state, go, run_main, fs_size, flash_model,
# sentinel...
# The channel to the host is the board's own stdout (framed requests, ide/board/virtual/output.py CONTROL_MARKER)
# and, back, one file in the state folder: no file descriptor to pass and no /dev/fd, so it is the same on a pty
# and on pipes, on every platform.
# Everything lives inside classes and one function, deleted at the end, so that __main__'s globals hold only
# what boot.py and main.py define, as on a chip.


def _vb_normalise(path):
    # Resolve "." and ".." against "/" so that "/../../etc/passwd" stays inside the board, as on a chip.
    parts = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


class _VbFlashFile(__import__("io").IOBase):
    # An IOBase subclass is a stream: json.dump and print(file=...) write through it.
    ENOSPC = 28
    SECTOR = 4096

    # A file opened for writing: counts bytes against the capacity and, with the flash model on, takes as long
    # as an ESP32's SPI flash would (about 60 KB/s, plus a 40 ms stall for each 4 KB sector erased). While the
    # interpreter waits here it does not read stdin, so a host that overruns the UART buffer loses bytes, as
    # on a chip.
    def __init__(self, fs, inner, slow):
        self._fs = fs
        self._inner = inner
        self._slow = slow
        self._written = 0

    def write(self, data):
        n = len(data)
        if self._fs.used + n > self._fs.capacity:
            raise OSError(self.ENOSPC)
        if self._slow:
            sectors_before = self._written // self.SECTOR
            delay_us = n * 1000000 // 60000
            sectors_after = (self._written + n) // self.SECTOR
            delay_us += (sectors_after - sectors_before) * 40000
            if delay_us:
                import utime  # the built-in: the time shim slices sleeps for Timer callbacks

                utime.sleep_us(delay_us)
        result = self._inner.write(data)
        self._written += n
        self._fs.used += n
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._inner.close()

    def __iter__(self):
        return iter(self._inner)


class _VbRootFs:
    # The board's "/" as a Python VFS: routes the hidden shim/state paths to their host folders, keeps every
    # other path inside the board folder, and enforces the file-system size an ESP32 partition has.
    SHIMS = "/__vb_shims__"
    STATE = "/__vb_state__"
    BLOCK = 4096

    def __init__(self, root, shims, state, capacity, slow, normalise):
        import vfs

        self.board = vfs.VfsPosix(root)
        # VfsPosix with a root builds both paths of rename() in one shared buffer (extmod/vfs_posix.c), so it
        # renames b to b; an unrooted instance given full host paths does not.
        self.unrooted = vfs.VfsPosix()
        self.root = root.rstrip("/")
        self.hidden = {self.SHIMS: vfs.VfsPosix(shims), self.STATE: vfs.VfsPosix(state)}
        self.host_roots = {self.SHIMS: shims.rstrip("/"), self.STATE: state.rstrip("/")}
        self.normalise = normalise
        self.file_class = _VbFlashFile  # module names are deleted after boot; keep what we need here
        self.capacity = capacity
        self.slow = slow
        self.used = self._usage("/")

    def _usage(self, path):
        total = 0
        for entry in self.board.ilistdir(path):
            name, kind = entry[0], entry[1]
            child = path.rstrip("/") + "/" + name
            if kind == 0x4000:
                total += self._usage(child)
            else:
                total += self.board.stat(child)[6]
        return total

    def _route(self, path):
        path = self.normalise(path)
        for prefix, fs in self.hidden.items():
            if path == prefix or path.startswith(prefix + "/"):
                return fs, path[len(prefix):] or "/"
        return self.board, path

    def _size(self, path):
        try:
            st = self.board.stat(path)
        except OSError:
            return 0
        return 0 if st[0] & 0x4000 else st[6]

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        fs, inner = self._route(path)
        if fs is not self.board or not ("w" in mode or "a" in mode or "+" in mode):
            return fs.open(inner, mode)
        if "w" in mode:
            self.used -= self._size(inner)
        return self.file_class(self, fs.open(inner, mode), self.slow)

    def ilistdir(self, path):
        # LittleFS on a chip gives (name, type, inode, size); the unix VfsPosix leaves the size out.
        fs, inner = self._route(path)
        base = inner.rstrip("/") + "/"
        for entry in fs.ilistdir(inner):
            size = 0 if entry[1] == 0x4000 else fs.stat(base + entry[0])[6]
            yield (entry[0], entry[1], 0, size)

    def stat(self, path):
        fs, inner = self._route(path)
        return fs.stat(inner)

    def statvfs(self, path):
        blocks = self.capacity // self.BLOCK
        free = max(0, (self.capacity - self.used) // self.BLOCK)
        return (self.BLOCK, self.BLOCK, blocks, free, free, 0, 0, 0, 0, 255)

    def mkdir(self, path):
        fs, inner = self._route(path)
        return fs.mkdir(inner)

    def rmdir(self, path):
        fs, inner = self._route(path)
        return fs.rmdir(inner)

    def remove(self, path):
        fs, inner = self._route(path)
        size = self._size(inner) if fs is self.board else 0
        fs.remove(inner)
        self.used -= size

    def rename(self, old, new):
        fs, old_inner = self._route(old)
        fs_new, new_inner = self._route(new)
        if fs is not fs_new:
            raise OSError(18)  # EXDEV
        replaced = self._size(new_inner) if fs is self.board else 0
        root = self.root
        for prefix, hidden in self.hidden.items():
            if hidden is fs:
                root = self.host_roots[prefix]
        self.unrooted.rename(root + old_inner, root + new_inner)
        self.used -= replaced

    def chdir(self, path):
        pass

    def getcwd(self):
        return ""


class _VbControl:
    # The requests machine.reset(), deep sleep and the start-up make to the host, framed on the real stdout (one
    # write per request, so nothing the program prints can land inside one).
    def __init__(self, out):
        self._out = out

    def write(self, text):
        data = text.encode()
        self._out.write(b"\x00\x1bVBC" + bytes((len(data) >> 8, len(data) & 0xFF)) + data)


def _vb_boot(main_globals):
    import gc
    # Collect often while booting: each collection lets the next allocations reuse the holes the start-up's
    # temporaries left, so what stays allocated (the shims) packs at the bottom of the heap and a program finds
    # its free heap in one piece, as on a chip that has these modules in flash. Without it the long-lived objects
    # spread over the whole heap: 190 KB free, no 9 KB block.
    gc.threshold(4096)
    import sys
    import json
    import os
    import vfs

    args = json.load(open(sys.argv[1]))
    # The real stdout, before sys becomes the chip's (_vbsys frames sys.stdout.buffer as program output).
    control = _VbControl(sys.stdout.buffer)
    vfs.umount("/")
    vfs.mount(_VbRootFs(args["root"], args["shims"], args["state"], args["fs_size"], args["flash_model"],
                        _vb_normalise), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib", _VbRootFs.SHIMS]
    sys.argv[:] = []
    import _vb

    _vb._control = control
    if args.get("chip_stdio"):
        # sys as the chip's firmware has it, and its stdout split into cooked text and raw bytes (_vbsys.py).
        import _vbsys

        sys.modules["sys"] = _vbsys.sys_module
        del sys.modules["_vbsys"]
    # The hardware modules are C code in a chip's flash; here they are .mpy shims in the heap. Loaded now, before
    # the prompt, they are part of what the board keeps allocated at boot (the heap is sized to leave a chip's free
    # RAM after them, heap.py), and importing machine costs a program nothing, as on a chip.
    for name in args.get("preload", ()):
        try:
            __import__(name)
        except ImportError:
            pass
    # gc answers in a chip's bytes: free RAM scaled back from a 64-bit interpreter's, and nothing of the boot's
    # own allocations counted as the program's (_vbgc.py).
    import gc
    import _vbgc

    gc.collect()
    _vbgc._scale = args.get("heap_scale", 1)
    _vbgc._base = gc.mem_alloc()
    _vbgc._reserve = args.get("heap_reserve", 0)
    sys.modules["gc"] = _vbgc
    del sys.modules["_vbgc"]
    if args.get("missing_modules"):
        # Older firmware lacks modules (deflate before 1.21, hashlib on some builds): importing them fails as there.
        import builtins

        missing = set(args["missing_modules"])
        missing.update(["u" + name for name in args["missing_modules"]])
        real_import = builtins.__import__

        def firmware_import(name, *rest):
            if name in missing:
                raise ImportError("no module named '%s'" % name)
            return real_import(name, *rest)

        builtins.__import__ = firmware_import

    def run_file(name):
        # Like pyexec_file on a chip: run the script in __main__'s globals, print an uncaught exception's
        # traceback (without this wrapper's frames), and treat SystemExit as a soft reset.
        try:
            os.stat(name)
        except OSError:
            return
        try:
            exec(compile(open(name).read(), name, "exec"), main_globals)
        except SystemExit:
            _vb.soft_reset()
        except BaseException as error:
            import io
            text = io.StringIO()
            sys.print_exception(error, text)
            lines = text.getvalue().split("\n")
            if lines[0].startswith("Traceback"):
                lines = [lines[0]] + [line for line in lines[1:] if not line.startswith('  File "<stdin>"')
                                      and "_vb_start.py" not in line]
            sys.stdout.write("\n".join(lines))

    try:
        # Until here a KeyboardInterrupt would have left the unix port at a REPL with the host's "/" as its root:
        # the host holds Ctrl-C back until this request arrives.
        control.write("interruptible\n")
        # The host answers (it creates this boot's "go" file) once it has delivered any Ctrl-C that arrived during
        # start-up, so that a Ctrl-C sent while the chip boots stops boot.py/main.py before their first line, as
        # on a chip: the KeyboardInterrupt lands in this wait.
        import utime  # the built-in: the time shim slices sleeps for Timer callbacks

        go = _VbRootFs.STATE + "/" + args["go"]
        while True:
            try:
                os.stat(go)
                break
            except OSError:
                utime.sleep_ms(1)
        run_file("boot.py")
        if args["run_main"]:
            run_file("main.py")
    except KeyboardInterrupt:
        pass  # Ctrl-C between the two scripts: on a chip too, the REPL simply starts
    finally:
        # The host drops what the unix port prints after this marker (its own banner) and shows an ESP32's.
        while True:
            try:
                sys.stdout.write(args["sentinel"])
                break
            except KeyboardInterrupt:
                pass  # a rescue sends Ctrl-C every 50 ms: the marker must still get out


_vb_boot(globals())
__import__("gc").threshold(-1)
del _vb_boot, _vb_normalise, _VbRootFs, _VbFlashFile, _VbControl
