"""Starts moto on a free loopback port for one test process, prints the port, and stops when the test
process closes our stdin (or dies): no server outlives the tests that started it."""
import sys

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server._server.server_port, flush=True)
sys.stdin.read()
server.stop()
