#!/bin/sh
# The privileged capture helper's protocol: one fixed-size request on
# descriptor 3, one fixed-size reply with SCM_RIGHTS descriptors. A request
# of the wrong size or with a wrong magic is refused with its error and no
# descriptor; an unknown interface is refused; and, as root, a valid
# TPACKET request on lo yields exactly one AF_PACKET descriptor, and the
# helper exits 0 once the requester closes its end.
. "$REPNET_SRC/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
H="$REPNET_BUILD/repnet-capture"
[ -x "$H" ] || fail "no $H"
ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1
python3 - "$H" "$ROOT" <<'PY' || fail "helper protocol"
import array, os, socket, struct, subprocess, sys
helper, root = sys.argv[1], sys.argv[2] == '1'
MAGIC, VER = 0x524e4350, 1
REP = struct.Struct('=IIiIII128s')

def req(kind=1, ifname=b'lo', ports=(9,), raw=0, magic=MAGIC):
    p = list(ports) + [0] * (8 - len(ports))
    return struct.pack('=III16sII8HIIIIIII', magic, VER, kind, ifname, 1, len(ports), *p,
                       raw, 4242, 0, 1, 4096, 64, 1 << 20)

def ask(payload):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    os.set_inheritable(b.fileno(), True)
    p = subprocess.Popen([helper, '3'], pass_fds=(b.fileno(), 3),
                         preexec_fn=lambda: os.dup2(b.fileno(), 3))
    b.close()
    a.send(payload)
    fds = array.array('i')
    msg, anc, flags, _ = a.recvmsg(REP.size + 16, socket.CMSG_LEN(64 * fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    a.close()
    rc = p.wait(timeout=10)
    for fd in fds:
        os.close(fd)
    assert len(msg) == REP.size, len(msg)
    magic, ver, res, nfds, zc, mode, text = REP.unpack(msg)
    assert magic == MAGIC and ver == VER
    return res, nfds, len(fds), rc, text.split(b'\0')[0].decode()

assert struct.calcsize('=III16sII8HIIIIIII') == 80
res, nfds, got, rc, text = ask(b'x' * 10)
assert (res, nfds, got, rc) == (-1001, 0, 0, 1), (res, nfds, got, rc, text)
res, nfds, got, rc, text = ask(req(magic=0x11111111))
assert (res, nfds, got, rc) == (-1012, 0, 0, 1), (res, nfds, got, rc, text)
res, nfds, got, rc, text = ask(req(kind=9))
assert res == -1001 and got == 0 and rc == 1, (res, text)
res, nfds, got, rc, text = ask(req(ifname=b'rn-no-such-if0'))
assert res < 0 and got == 0 and rc == 1 and 'no interface' in text, (res, text)
if root:
    res, nfds, got, rc, text = ask(req())
    assert (res, nfds, got, rc) == (0, 1, 1, 0), (res, nfds, got, rc, text)
print('helper protocol ok')
PY
echo PASS
