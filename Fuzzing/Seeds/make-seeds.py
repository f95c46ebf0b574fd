#!/usr/bin/env python3
"""Writes the seed corpora under Fuzzing/Seeds/<Target>/: a few valid inputs per harness, laid out as each harness
reads its input (control bytes first, see the harness's header comment). Run from anywhere; the output is
deterministic and committed, so run it again only after changing it."""
import hashlib
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def md5hex(b):
    return hashlib.md5(b).hexdigest()


# --- PostgreSQL wire ---------------------------------------------------------------------------------------------

def cstr(s):
    return s.encode() + b"\0"


def typed(kind, body=b""):
    return kind.encode() + struct.pack(">i", len(body) + 4) + body


def untyped(body):
    return struct.pack(">i", len(body) + 4) + body


def startup(**params):
    return untyped(struct.pack(">i", 196608) + b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\0")


SSL_REQUEST = untyped(struct.pack(">i", 80877103))
GSS_REQUEST = untyped(struct.pack(">i", 80877104))
CANCEL = untyped(struct.pack(">iii", 80877102, 1234, -99))


def password(s):
    return typed("p", cstr(s))


def md5_answer(user, pw, salt):
    return "md5" + md5hex(md5hex((pw + user).encode()).encode() + salt)


FRONTEND = (typed("Q", cstr("select 1; select 'x'"))
            + typed("P", cstr("s1") + cstr("select $1::int") + struct.pack(">hI", 1, 23))
            + typed("B", cstr("p") + cstr("s1") + struct.pack(">hhh", 1, 0, 2) + struct.pack(">i", 2) + b"42"
                    + struct.pack(">i", -1) + struct.pack(">hh", 1, 1))
            + typed("D", b"S" + cstr("s1")) + typed("E", cstr("p") + struct.pack(">i", 100))
            + typed("C", b"P" + cstr("p")) + typed("H") + typed("S")
            + typed("d", b"1\tx\n") + typed("c") + typed("f", cstr("gave up"))
            + typed("F", bytes([0, 0, 4, 1, 0, 0])) + typed("X"))

BACKEND = (typed("R", struct.pack(">i", 10) + cstr("SCRAM-SHA-256") + b"\0")
           + typed("R", struct.pack(">i", 11) + b"r=abc,s=c2FsdA==,i=4096")
           + typed("R", struct.pack(">i", 12) + b"v=xyz") + typed("R", struct.pack(">i", 5) + b"\1\2\3\4")
           + typed("R", struct.pack(">i", 0))
           + typed("S", cstr("client_encoding") + cstr("UTF8")) + typed("K", struct.pack(">ii", 7, 8))
           + typed("Z", b"I")
           + typed("T", struct.pack(">h", 1) + cstr("a") + struct.pack(">IhIhih", 5, 2, 23, 4, -1, 0))
           + typed("D", struct.pack(">hi", 2, 1) + b"0" + struct.pack(">i", -1))
           + typed("C", cstr("SELECT 1")) + typed("I") + typed("1") + typed("2") + typed("3") + typed("n") + typed("s")
           + typed("t", struct.pack(">hII", 2, 23, 25))
           + typed("G", struct.pack(">bhh", 0, 1, 0)) + typed("H", struct.pack(">bhh", 1, 1, 1))
           + typed("W", struct.pack(">bh", 0, 0)) + typed("d", b"row\n") + typed("c")
           + typed("A", struct.pack(">i", 42) + cstr("chan") + cstr("payload"))
           + typed("V", struct.pack(">i", 2) + b"ok") + typed("v", struct.pack(">ii", 0, 1) + cstr("_pq_.x"))
           + typed("N", b"SNOTICE\0MHi\0\0")
           + typed("E", b"SERROR\0VERROR\0C42P01\0Mrelation does not exist\0\0") + typed("Z", b"T"))

# FuzzFrames: flags, 8-byte split seed, wanted-ids byte, stream.
frames_prefix = lambda flags: bytes([flags]) + bytes(range(1, 9)) + bytes([0xFF])
write("FuzzFrames", "client", frames_prefix(0x09) + startup(user="alice", database="app", application_name="psql") + FRONTEND)
write("FuzzFrames", "client-ssl", frames_prefix(0x01) + SSL_REQUEST + GSS_REQUEST + startup(user="u") + typed("Q", cstr("show pool_nodes")))
write("FuzzFrames", "cancel", frames_prefix(0x01) + CANCEL)
write("FuzzFrames", "backend", frames_prefix(0x08) + BACKEND)
write("FuzzFrames", "backend-bytewise", frames_prefix(0x00) + BACKEND[:200])

# --- Startup negotiation -----------------------------------------------------------------------------------------
# FuzzStartup: environment, TLS, 4 lease outcomes, 8-byte split seed, stream. Environment bits: 1 pool_hba,
# 2 allow_clear_text_frontend_auth, 4·(address: 127.0.0.1, 10.1.2.3, unix, ::1), 16 TLS available, 32·read size.
SALT = bytes([1, 2, 3, 4])


def startup_seed(name, env, tls, outcomes, stream):
    write("FuzzStartup", name, bytes([env, tls]) + bytes(outcomes) + bytes(range(1, 9)) + stream)


startup_seed("hba-md5", 0x21, 0, [0, 0, 0, 0],
             startup(user="md5user", database="app") + password(md5_answer("md5user", "secret", SALT)))
startup_seed("hba-password", 0x41, 0, [0, 0, 0, 0], startup(user="pwuser", database="app") + password("secret"))
startup_seed("hba-scram", 0x61, 0, [0, 0, 0, 0],
             startup(user="scramuser", database="app")
             + typed("p", cstr("SCRAM-SHA-256") + struct.pack(">i", 20) + b"n,,n=,r=clientnonce1")
             + typed("p", b"c=biws,r=clientnonce1fuzz-nonce,p=" + b"A" * 43 + b"="))
startup_seed("hba-cert-ssl", 0x31, 0x05, [0, 0, 0, 0], SSL_REQUEST + startup(user="certuser", database="certuser"))
startup_seed("hba-local-trust", 0x29, 0, [1, 0, 0, 0], startup(user="anyone"))
startup_seed("hba-reject", 0x21, 0, [0, 0, 0, 0], startup(user="x", database="rejected"))
startup_seed("mirror-md5", 0x20, 0, [9, 0, 0, 0],
             startup(user="alice", database="app") + password(md5_answer("alice", "secret", SALT)))
startup_seed("clear-text", 0x22, 0, [3, 0, 0, 0], GSS_REQUEST + startup(user="nobody") + password("pw"))
startup_seed("direct-tls", 0x30, 0x01, [0, 0, 0, 0], bytes([0x16, 3, 1, 0, 5]) + b"hello" + startup(user="u"))
startup_seed("cancel", 0x20, 0, [0, 0, 0, 0], CANCEL)

# --- PCP --------------------------------------------------------------------------------------------------------
# FuzzPCP: flags (1: log in first), 8 reply bytes, 8-byte split seed, stream.


def pcp(kind, payload=b""):
    return kind.encode() + struct.pack(">i", len(payload) + 4) + payload


PCP_SALT = bytes([0x11, 0x22, 0x33, 0x44])
stored = md5hex(b"pass")
login = pcp("M") + pcp("R", cstr("admin") + cstr(md5hex(md5hex((stored + "admin").encode()).encode() + PCP_SALT)))
commands = (pcp("L") + pcp("I", cstr("-1")) + pcp("H", cstr("0")) + pcp("N") + pcp("P", cstr("0")) + pcp("B")
            + pcp("W", cstr("-1")) + pcp("C", cstr("1")) + pcp("D", cstr("1")) + pcp("d", cstr("1"))
            + pcp("J", b"1 \0s") + pcp("j", b"0 \0n") + pcp("O", cstr("1")) + pcp("Z", b"c") + pcp("V", b"l")
            + pcp("G") + pcp("T", b"f") + pcp("t", b"s") + pcp("A", cstr("client_min_messages") + cstr("debug1"))
            + pcp("F") + pcp("M") + pcp("X"))
write("FuzzPCP", "login-commands", bytes([0x04]) + bytes([0, 2, 0, 0, 0, 0, 0, 0]) + bytes(range(1, 9)) + login + commands)
write("FuzzPCP", "after-login", bytes([0x05]) + bytes([0, 0, 2, 0, 0, 0, 0, 1]) + bytes(range(1, 9)) + commands)
write("FuzzPCP", "unauthenticated", bytes([0x02]) + bytes(8) + bytes(range(1, 9)) + pcp("L") + pcp("R", cstr("admin") + cstr("0" * 32)))

# --- Configuration ----------------------------------------------------------------------------------------------
# FuzzConfig: a byte for the kind of file (0 pgpool.conf, 1 pool_hba.conf, 2 pool_passwd, 3 pcp.conf, 4 pgpool_status),
# then the text; for pgpool.conf, NUL-separated files: the first is pgpool.conf, includes resolve to the others.
sample = open(os.path.join(ROOT, "share", "pgpool.conf.sample"), encoding="utf-8").read()
# Every setting of the sample, uncommented at its default, in four files of about 1.5 kB (the fuzzer is faster on
# short inputs, and crosses them over).
settings = [line[1:] for line in sample.splitlines() if re.match(r"#[a-z_]+[0-9]* = ", line)]
quarter = (len(settings) + 3) // 4
for i in range(4):
    write("FuzzConfig", "sample-%d" % (i + 1), b"\0" + ("\n".join(settings[i * quarter:(i + 1) * quarter]) + "\n").encode())

HBA = """# TYPE  DATABASE  USER   ADDRESS          METHOD
local   all       all                     trust
host    all       alice  127.0.0.1/32     md5
host    sales     all    10.0.0.0 255.0.0.0 scram-sha-256
hostssl all       bob    ::1/128          cert
hostssl all       carol  0.0.0.0/0        md5 clientcert=verify-full
hostnossl all     all    samenet          password
host    all       all    all              reject
"""
PASSWD = "alice:md5" + md5hex(b"secretalice") + "\nbob:TEXTsecret\ncarol:plain\ndave:AESxyz\n"
PCP_CONF = "# USERID:MD5PASSWD\nadmin:" + md5hex(b"pass") + "\n"
write("FuzzConfig", "includes", b"\0" + ("port = 9999\ninclude = 'backends.conf'\nuse_watchdog = on\nhostname0 = 'a'\n"
                                 "hostname1 = 'b'\nwd_port1 = 9001\n").encode()
      + b"\0" + b"backend_hostname0 = 'db0'\nbackend_port0 = 5432\nbackend_flag0 = 'ALLOW_TO_FAILOVER|ALWAYS_PRIMARY'\n"
      + b"\0" + b"1\n")
write("FuzzConfig", "etcd", b"\0watchdog_coordination = etcd\netcd_endpoints = 'http://127.0.0.1:2379'\n")
write("FuzzConfig", "pool_hba", b"\1" + HBA.encode())
write("FuzzConfig", "pool_passwd", b"\2" + PASSWD.encode())
write("FuzzConfig", "pcp.conf", b"\3" + PCP_CONF.encode())
write("FuzzConfig", "pgpool_status", b"\4up\ndown\nunused\n")
write("FuzzConfig", "crlf", b"\0port = 9999\r\nlisten_addresses = '*'\r\n")

# --- Watchdog ---------------------------------------------------------------------------------------------------


def wd_string(s):
    return bytes([len(s)]) + s.encode()


def wd_packet(kind, payload=b"", state=7, flags=0, leader="a:9000"):
    b = b"PDWD" + bytes([2, kind, flags, state])
    b += struct.pack(">QQQ", 0x1234, 7, 3) + struct.pack(">i", 1)
    b += struct.pack(">QQQ", 60000, 123456789, 3) + struct.pack(">H", 2) + struct.pack(">Q", 5000)
    b += wd_string("a:9000") + wd_string("b:9000") + wd_string(leader)
    b += struct.pack(">H", len(payload)) + payload
    return b + bytes(32)


request = bytes([0, 2]) + struct.pack(">HH", 0, 1)
packets = {
    "hello": wd_packet(1, state=2, leader=""), "beacon": wd_packet(3, state=4, flags=8), "vote": wd_packet(6, flags=3),
    "heartbeat": wd_packet(0x10, state=0, leader=""),
    "view": wd_packet(9, struct.pack(">QHH", 4, 0, 2) + struct.pack(">HB", 0, 2) + struct.pack(">HB", 1, 3)),
    "proposal": wd_packet(10, request), "answer": wd_packet(11, request + bytes([2]) + struct.pack(">HH", 1, 2)),
    "admin-request": wd_packet(12, struct.pack(">QBH", 9, 3, 1)),
    "admin-reply": wd_packet(13, struct.pack(">QBH", 9, 1, 2) + b"ok"),
    "digest": wd_packet(14, struct.pack(">H", 2) + bytes(range(32))), "command": wd_packet(15, bytes([1])),
}
for name, data in packets.items():
    write("FuzzWatchdog", name, data)
