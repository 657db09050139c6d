"""Property test: random operation sequences against the core and a tiny in-memory model.

Both sides get the same operation; their errnos and results must agree after every
step, and at the end the whole trees (names, types, permissions, sizes, contents,
link counts and hard-link groups) must be equal and the Redis keys consistent.
"""

from __future__ import annotations

import errno
import itertools
import stat
import uuid
from dataclasses import dataclass, field

import hypothesis.strategies as st
import redis
from helpers_invariants import assert_consistent, tree
from hypothesis import HealthCheck, note, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from redisfs_tui.core import RENAME_EXCHANGE, RENAME_NOREPLACE, FileSystem, FsError
from redisfs_tui.core.local_server import LocalRedis

BS = 4096
NAMES = ("a", "b", "c")
PATHS = [p for depth in (1, 2, 3) for p in itertools.product(NAMES, repeat=depth)]
# shallow paths exist far more often; weight them so most operations do something
path_st = st.one_of(
    st.sampled_from([p for p in PATHS if len(p) == 1]),
    st.sampled_from([p for p in PATHS if len(p) == 2]),
    st.sampled_from(PATHS),
)
perm_st = st.sampled_from([0o644, 0o600, 0o755, 0o4750, 0o000, 0o1777])
data_st = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda b, n: bytes([b]) * n, st.sampled_from([0, 1, 0xFF]),
              st.integers(0, 2 * BS + 10)),
)
offset_st = st.one_of(st.integers(0, 3 * BS + 20), st.sampled_from([BS - 1, BS, 2 * BS]))


@dataclass(eq=False)
class Node:
    kind: int  # stat.S_IFDIR / S_IFREG / S_IFLNK
    perm: int
    data: bytearray = field(default_factory=bytearray)
    children: dict[str, Node] = field(default_factory=dict)
    parent: Node | None = None
    links: int = 1


class ModelError(Exception):
    def __init__(self, code: int) -> None:
        self.errno = code


def fail(code: int) -> None:
    raise ModelError(code)


class Model:
    """POSIX semantics as the core implements them, in the order it checks errors."""

    def __init__(self) -> None:
        self.root = Node(stat.S_IFDIR, 0o755)

    def resolve(self, path: tuple[str, ...]) -> Node:
        cur = self.root
        for part in path:
            if cur.kind != stat.S_IFDIR:
                fail(errno.ENOTDIR)
            if part not in cur.children:
                fail(errno.ENOENT)
            cur = cur.children[part]
        return cur

    def _new(self, path: tuple[str, ...], node: Node) -> None:
        parent = self.resolve(path[:-1])
        if parent.kind != stat.S_IFDIR:
            fail(errno.ENOTDIR)
        if path[-1] in parent.children:
            fail(errno.EEXIST)
        if node.kind == stat.S_IFDIR:
            node.parent = parent
        parent.children[path[-1]] = node

    def mkdir(self, path, perm):
        self._new(path, Node(stat.S_IFDIR, perm))

    def create(self, path, perm):
        self._new(path, Node(stat.S_IFREG, perm))

    def symlink(self, path, target: bytes):
        self._new(path, Node(stat.S_IFLNK, 0o777, bytearray(target)))

    def write(self, path, offset, data):
        node = self.resolve(path)
        if node.kind != stat.S_IFREG and data:  # an empty write checks nothing, like write(2)
            fail(errno.EISDIR if node.kind == stat.S_IFDIR else errno.EINVAL)
        self.write_node(node, offset, data)

    @staticmethod
    def write_node(node: Node, offset: int, data: bytes) -> None:
        if not data:
            return
        if offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset:offset + len(data)] = data

    def truncate(self, path, size):
        node = self.resolve(path)
        if node.kind == stat.S_IFDIR:
            fail(errno.EISDIR)
        if node.kind != stat.S_IFREG:
            fail(errno.EINVAL)
        if size < len(node.data):
            del node.data[size:]
        else:
            node.data.extend(bytes(size - len(node.data)))

    def chmod(self, path, perm):
        self.resolve(path).perm = perm

    def link(self, src, dst):
        node = self.resolve(src)
        parent = self.resolve(dst[:-1])
        if node.kind == stat.S_IFDIR:
            fail(errno.EPERM)
        if parent.kind != stat.S_IFDIR:
            fail(errno.ENOTDIR)
        if dst[-1] in parent.children:
            fail(errno.EEXIST)
        parent.children[dst[-1]] = node
        node.links += 1

    def _lookup_in(self, path) -> tuple[Node, Node]:
        parent = self.resolve(path[:-1])
        if parent.kind != stat.S_IFDIR:
            fail(errno.ENOTDIR)
        if path[-1] not in parent.children:
            fail(errno.ENOENT)
        return parent, parent.children[path[-1]]

    def unlink(self, path):
        parent, node = self._lookup_in(path)
        if node.kind == stat.S_IFDIR:
            fail(errno.EISDIR)
        del parent.children[path[-1]]
        node.links -= 1

    def rmdir(self, path):
        parent, node = self._lookup_in(path)
        if node.kind != stat.S_IFDIR:
            fail(errno.ENOTDIR)
        if node.children:
            fail(errno.ENOTEMPTY)
        del parent.children[path[-1]]

    @staticmethod
    def inside(ancestor: Node, start: Node) -> bool:
        cur: Node | None = start
        while cur is not None:
            if cur is ancestor:
                return True
            cur = cur.parent
        return False

    def rename(self, src, dst, flags):
        sp = self.resolve(src[:-1])
        dp = self.resolve(dst[:-1])
        if sp.kind != stat.S_IFDIR or dp.kind != stat.S_IFDIR:
            fail(errno.ENOTDIR)
        sname, dname = src[-1], dst[-1]
        if sname not in sp.children:
            fail(errno.ENOENT)
        snode, dnode = sp.children[sname], dp.children.get(dname)
        if flags == RENAME_EXCHANGE and dnode is None:
            fail(errno.ENOENT)
        if dnode is not None and flags == RENAME_NOREPLACE:
            fail(errno.EEXIST)
        if dnode is snode:
            return
        sdir = snode.kind == stat.S_IFDIR
        ddir = dnode is not None and dnode.kind == stat.S_IFDIR
        if sdir and self.inside(snode, dp):
            fail(errno.EINVAL)
        if flags == RENAME_EXCHANGE:
            if ddir and self.inside(dnode, sp):
                fail(errno.EINVAL)
            sp.children[sname], dp.children[dname] = dnode, snode
            if ddir:
                dnode.parent = sp
        else:
            if dnode is not None:
                if sdir and not ddir:
                    fail(errno.ENOTDIR)
                if ddir and not sdir:
                    fail(errno.EISDIR)
                if ddir and dnode.children:
                    fail(errno.ENOTEMPTY)
                if not ddir:
                    dnode.links -= 1
            del sp.children[sname]
            dp.children[dname] = snode
        if sdir:
            snode.parent = dp

    def tree(self) -> dict[bytes, tuple]:
        rows: dict[bytes, tuple] = {}
        first: dict[int, bytes] = {}
        todo = [(b"", self.root)]
        while todo:
            path, node = todo.pop()
            for name, child in node.children.items():
                p = path + b"/" + name.encode()
                first[id(child)] = min(first.get(id(child), p), p)
                if child.kind == stat.S_IFDIR:
                    todo.append((p, child))
                    nlink = 2 + sum(c.kind == stat.S_IFDIR for c in child.children.values())
                    size, body = 0, b""
                else:
                    nlink, size, body = child.links, len(child.data), bytes(child.data)
                rows[p] = (child.kind, child.perm, size, body, nlink, id(child))
        return {p: (*row[:5], first[row[5]]) for p, row in rows.items()}


def outcome(func, *args):
    """('ok', result) or ('err', errno) from either side."""
    try:
        return ("ok", func(*args))
    except (FsError, ModelError) as exc:
        return ("err", errno.errorcode.get(exc.errno, exc.errno))


class CoreVersusModel(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.client = redis.Redis.from_url(self.url)
        self.fs = FileSystem.mkfs(self.client, f"model-{uuid.uuid4().hex[:12]}",
                                  block_size=BS, codec="zlib")
        self.model = Model()
        self.handles: list[tuple[int, Node]] = []

    # -- the core side, by path ----------------------------------------------------------
    def _ino(self, path) -> int:
        return self.fs.resolve("/" + "/".join(path)).ino

    def _parent(self, path) -> int:
        return self._ino(path[:-1])

    def pick(self, data: st.DataObject, most: int = 2) -> tuple[str, ...]:
        """An existing path (any depth), a new name below one, or any short path."""
        existing = sorted(tuple(p.decode().split("/")[1:]) for p in self.model.tree())
        how = data.draw(st.integers(0, most)) if existing else 2
        if how == 0:
            return data.draw(st.sampled_from(existing))
        if how == 1:
            return (*data.draw(st.sampled_from(existing)), data.draw(st.sampled_from(NAMES)))
        return data.draw(path_st)

    def same(self, core_call, model_call, *args) -> object:
        note(f"{model_call.__name__}{args!r}")
        core = outcome(core_call, *args)
        model = outcome(model_call, *args)
        if core[0] == model[0] == "ok":
            return core[1]
        assert core == model, (core, model)
        return None

    # -- rules ---------------------------------------------------------------------------
    @initialize(populate=st.booleans())
    def start(self, populate):
        """Often begin from a small tree with a hard link, so early steps hit something."""
        if not populate:
            return
        self.mkdir(("a",), 0o755)
        self.mkdir(("a", "b"), 0o700)
        self.create(("b",), 0o644)
        self.write(("b",), BS - 2, b"hello")
        self.create(("a", "a"), 0o600)
        self.link(("b",), ("a", "c"))
        self.symlink(("c",), b"a/b")

    @rule(data=st.data(), perm=perm_st)
    def mkdir_rule(self, data, perm):
        self.mkdir(self.pick(data), perm)

    def mkdir(self, path, perm):
        self.same(lambda p, m: self.fs.mkdir(self._parent(p), p[-1], m), self.model.mkdir,
                  path, perm)

    @rule(data=st.data(), perm=perm_st)
    def create_rule(self, data, perm):
        self.create(self.pick(data), perm)

    def create(self, path, perm):
        self.same(lambda p, m: self.fs.create(self._parent(p), p[-1], m, open_handle=False),
                  self.model.create, path, perm)

    @rule(data=st.data(), link_to=st.sampled_from([b"a", b"../x", b"/abs/path", b"t" * 300]))
    def symlink_rule(self, data, link_to):
        self.symlink(self.pick(data), link_to)

    def symlink(self, path, link_to):
        self.same(lambda p, t: self.fs.symlink(self._parent(p), p[-1], t),
                  self.model.symlink, path, link_to)

    @rule(data=st.data(), offset=offset_st, payload=data_st)
    def write_rule(self, data, offset, payload):
        self.write(self.pick(data), offset, payload)

    def write(self, path, offset, payload):
        self.same(lambda p, o, d: self.fs.write(self._ino(p), o, d), self.model.write,
                  path, offset, payload)

    @rule(data=st.data(), size=st.one_of(st.integers(0, 3 * BS + 20), st.sampled_from([0, BS])))
    def truncate(self, data, size):
        path = self.pick(data)
        self.same(lambda p, s: self.fs.truncate(self._ino(p), s), self.model.truncate,
                  path, size)

    @rule(data=st.data(), perm=perm_st)
    def chmod(self, data, perm):
        path = self.pick(data)
        self.same(lambda p, m: self.fs.chmod(self._ino(p), m), self.model.chmod, path, perm)

    @rule(data=st.data())
    def link_rule(self, data):
        self.link(self.pick(data), self.pick(data))

    def link(self, src, dst):
        self.same(lambda s, d: self.fs.link(self._ino(s), self._parent(d), d[-1]),
                  self.model.link, src, dst)

    @rule(data=st.data())
    def unlink(self, data):
        path = self.pick(data)
        self.same(lambda p: self.fs.unlink(self._parent(p), p[-1]), self.model.unlink, path)

    @rule(data=st.data())
    def rmdir(self, data):
        path = self.pick(data)
        self.same(lambda p: self.fs.rmdir(self._parent(p), p[-1]), self.model.rmdir, path)

    @rule(data=st.data(), flags=st.sampled_from([0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE]))
    def rename(self, data, flags):
        src = self.pick(data, most=0)
        dst = self.pick(data, most=0 if flags == RENAME_EXCHANGE else 1)
        self.same(
            lambda s, d, f: self.fs.rename(self._parent(s), s[-1], self._parent(d), d[-1], f),
            self.model.rename, src, dst, flags)

    @rule(data=st.data(), offset=offset_st, size=st.integers(0, 2 * BS + 10))
    def read(self, data, offset, size):
        path = self.pick(data)
        def model_read(p, o, n):
            node = self.model.resolve(p)
            return bytes(node.data[o:o + n]) if node.kind == stat.S_IFREG else b""
        core = outcome(lambda p, o, n: self.fs.read(self._ino(p), o, n), path, offset, size)
        model = outcome(model_read, path, offset, size)
        if model[0] == "ok" and self.model.resolve(path).kind == stat.S_IFLNK:
            return  # reading a symlink's inode is not a file read; FUSE never asks
        assert core == model

    # open handles: unlinked-but-open files must stay readable and writable
    @rule(data=st.data())
    def hold(self, data):
        path = self.pick(data)
        result = self.same(lambda p: self.fs.open(self._ino(p)), self.model.resolve, path)
        if result is not None and self.model.resolve(path).kind == stat.S_IFREG:
            self.handles.append((result.ino, self.model.resolve(path)))
        elif result is not None:
            self.fs.release(result.ino)

    @rule(data=st.data())
    def use_handle(self, data):
        if not self.handles:
            return
        ino, node = data.draw(st.sampled_from(self.handles))
        offset, payload = data.draw(offset_st), data.draw(data_st)
        self.fs.write(ino, offset, payload)
        Model.write_node(node, offset, payload)
        assert self.fs.read(ino, 0, 4 * BS + 100) == bytes(node.data[:4 * BS + 100])
        assert self.fs.getattr(ino).nlink == node.links

    @rule(data=st.data())
    def release(self, data):
        if not self.handles:
            return
        index = data.draw(st.integers(0, len(self.handles) - 1))
        ino, node = self.handles.pop(index)
        self.fs.release(ino)
        gone = node.links == 0 and all(n is not node for _, n in self.handles)
        assert outcome(self.fs.getattr, ino)[0] == ("err" if gone else "ok")

    @invariant()
    def root_nlink(self):
        subdirs = sum(c.kind == stat.S_IFDIR for c in self.model.root.children.values())
        assert self.fs.getattr(1).nlink == 2 + subdirs

    def teardown(self):
        try:
            assert tree(self.fs) == self.model.tree()
            assert_consistent(self.fs)
            for ino, _ in self.handles:
                self.fs.release(ino)
            assert_consistent(self.fs)
            distinct = {row[5] for row in self.model.tree().values()}
            assert int(self.fs.superblock()["inodes"]) == 1 + len(distinct)
        finally:
            keys = list(self.client.scan_iter(match=self.fs.keys.all_keys_pattern(), count=1000))
            if keys:
                self.client.unlink(*keys)
            self.client.close()


def test_core_behaves_like_the_model(tmp_path) -> None:
    # a private server: each example SCANs the keyspace, which must stay small
    with LocalRedis(tmp_path / "redis") as server:
        _run(server.url)


def _run(url: str) -> None:
    CoreVersusModel.url = url
    run_state_machine_as_test(
        CoreVersusModel,
        settings=settings(max_examples=500, stateful_step_count=50, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck)),
    )
