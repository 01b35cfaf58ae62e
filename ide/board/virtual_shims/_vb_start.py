# Start-up of the virtual board (MicroPython code, run by the unix port as `micropython -i _vb_start.py ARGS`).
#
# It makes the unix port look like an ESP32 after a reset: the board's folder becomes "/" (nothing outside it is
# reachable), the shims and the host state folder are served under hidden paths, the file system has an ESP32's
# capacity (and optionally its write speed), then boot.py and main.py run like pyexec_file does on a chip, and
# `-i` leaves us at the friendly REPL.
#
# ARGS is the path of a JSON file the host wrote: root, shims, state, control_fd, run_main, fs_size,
# flash_model, sentinel.
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


def _vb_install_stdio(sys, marker):
    # A chip cooks text (print, sys.stdout.write, tracebacks: every "\n" leaves as "\r\n",
    # shared/runtime/sys_stdio_mphal.c and stdout_helpers.c) but sends sys.stdout.buffer.write() bytes as they are.
    # The unix port writes both to fd 1 unchanged, so the host cannot tell them apart. sys.stdout.buffer becomes
    # a writer that frames its bytes (marker, 2-byte length, data): the host passes framed bytes through and cooks
    # everything else. `import sys` finds sys.modules first, so a proxy there is what programs see as sys.
    import io

    real_buffer = sys.stdout.buffer

    # IOBase subclasses are streams: print(file=...) and json.dump() can write through them, as through the real ones.
    class RawWriter(io.IOBase):
        def write(self, data):
            n = len(data)
            view = memoryview(data)
            at = 0
            while at < n:
                size = min(n - at, 0xFFFF)
                real_buffer.write(marker + bytes((size >> 8, size & 0xFF)))
                real_buffer.write(view[at:at + size])
                at += size
            return n

        def flush(self):
            pass

        def __getattr__(self, name):
            return getattr(real_buffer, name)

    class Stdout(io.IOBase):
        buffer = RawWriter()

        def write(self, text):
            return sys.stdout.write(text)

        def __getattr__(self, name):
            return getattr(sys.stdout, name)

    class Sys:
        stdout = Stdout()

        def __getattr__(self, name):
            return getattr(sys, name)

        def __setattr__(self, name, value):
            setattr(sys, name, value)

    sys.modules["sys"] = Sys()


def _vb_boot(main_globals):
    import sys
    import json
    import os
    import vfs

    args = json.load(open(sys.argv[1]))
    if args.get("raw_marker"):
        _vb_install_stdio(sys, args["raw_marker"].encode())
    # Opened before "/" is replaced: the host's end of the control channel (hard reset, deep sleep requests).
    control = open("/dev/fd/%d" % args["control_fd"], "w")
    go = open("/dev/fd/%d" % args["go_fd"], "rb")
    vfs.umount("/")
    vfs.mount(_VbRootFs(args["root"], args["shims"], args["state"], args["fs_size"], args["flash_model"],
                        _vb_normalise), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib", _VbRootFs.SHIMS]
    sys.argv[:] = []
    import _vb

    _vb._control = control

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
        # the host holds Ctrl-C back until this line arrives (unbuffered here; flush() would fsync a pipe).
        control.write("interruptible\n")
        # The host answers once it has delivered any Ctrl-C that arrived during start-up, so that a Ctrl-C
        # sent while the chip boots stops boot.py/main.py before their first line, as on a chip.
        go.read(1)
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
del _vb_boot, _vb_install_stdio, _vb_normalise, _VbRootFs, _VbFlashFile
