#!/usr/bin/python3
"""A TLS client (Python's ssl) that checks how the broker ends a connection it closes itself:
the DISCONNECT must arrive, then the TLS close_notify (SSL_ERROR_ZERO_RETURN: recv returns b''),
not a bare TCP close (an "unexpected EOF", SSLEOFError with suppress_ragged_eofs=False).

Usage: tls_close_notify.py MODE PORT CAFILE
  protocol_error  a second CONNECT: the broker sends DISCONNECT 0x82 and closes
  keep_alive      CONNECT with keep alive 1 s, then silence: DISCONNECT 0x8D after 1.5 s
  shutdown        CONNECT, print "connected", then wait for the server (the test stops it): 0x8B
Prints "disconnect 0x<rc>" and then "close_notify" or "no close_notify: <why>".
"""
import socket
import ssl
import sys

DEADLINE_S = 60


def connect_packet(client_id, keep_alive):
    cid = client_id.encode()
    # MQTT 5 CONNECT: clean start, no properties.
    body = (b"\x00\x04MQTT\x05\x02" + keep_alive.to_bytes(2, "big") + b"\x00" +
            len(cid).to_bytes(2, "big") + cid)
    return bytes([0x10, len(body)]) + body


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def packet(self):
        """The next MQTT packet (type byte, body), or None at a clean end of the TLS stream."""
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buf):
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        if len(self.buf) >= i + n:
                            pkt = (self.buf[0], self.buf[i:i + n])
                            self.buf = self.buf[i + n:]
                            return pkt
                        break
            data = self.sock.recv(4096)  # SSLEOFError if the TCP stream ends without close_notify
            if not data:
                return None
            self.buf += data


def main():
    mode, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    sock = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    r = Reader(sock)
    sock.sendall(connect_packet("close-notify-" + mode, 1 if mode == "keep_alive" else 60))
    connack = r.packet()
    if connack is None or connack[0] != 0x20:
        print("no CONNACK: %r" % (connack,))
        return 1
    if mode == "protocol_error":
        sock.sendall(connect_packet("again", 60))
    elif mode == "shutdown":
        print("connected", flush=True)
    try:
        pkt = r.packet()
        if pkt is None or pkt[0] != 0xE0:
            print("expected DISCONNECT, got %r" % (pkt,))
            return 1
        print("disconnect 0x%02x" % (pkt[1][0] if pkt[1] else 0))
        rest = r.packet()
        if rest is not None:
            print("a packet after DISCONNECT: %r" % (rest,))
            return 1
        print("close_notify")
    except ssl.SSLEOFError as e:
        print("no close_notify: %s" % e)
        return 1
    except OSError as e:
        print("no close_notify: %s" % e)
        return 1
    # Our close_notify back, then close.
    try:
        sock.unwrap()
    except (ssl.SSLError, OSError):
        pass
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
