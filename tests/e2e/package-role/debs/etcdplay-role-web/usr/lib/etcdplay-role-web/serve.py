"""Serves /usr/share/etcdplay-role-web/www on the address and port of /etc/pkgrole/web.ini."""
import configparser
import functools
import http.server

config = configparser.ConfigParser()
config.read("/etc/pkgrole/web.ini")
bind = config.get("server", "bind", fallback="127.0.0.1")
port = config.getint("server", "port", fallback=8000)
handler = functools.partial(
    http.server.SimpleHTTPRequestHandler, directory="/usr/share/etcdplay-role-web/www"
)
http.server.ThreadingHTTPServer((bind, port), handler).serve_forever()
