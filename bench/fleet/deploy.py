"""The fleet benchmark for pyinfra: the same 10 tasks and handler as fleet.yml, on the same hosts.

pyinfra has no handlers: the restart runs when one of the notifying operations changed.
"""

from io import StringIO

from pyinfra import host, inventory
from pyinfra.facts.server import Command, Hostname
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

# What fleet.yml reads from gathered facts.
facts = {
    "inventory_hostname": host.name,
    "ansible_hostname": host.get_fact(Hostname),
    "ansible_default_ipv4": {"address": host.get_fact(Command, "hostname -I | cut -d' ' -f1")},
    "groups": {"all": [h.name for h in inventory]},
}

files.directory(name="App dir", path="/opt/fleet", mode="755")
files.directory(name="Conf dir", path="/opt/fleet/conf.d", mode="750")
files.directory(name="Data dir", path="/opt/fleet/data", mode="700")
files.put(name="Banner", src=StringIO("fleet benchmark host\n"), dest="/opt/fleet/motd", mode="644")
conf = files.put(name="Static config", src="files/fleet.conf", dest="/opt/fleet/fleet.conf", mode="644")
files.template(
    name="App config", src="templates/app.ini.j2", dest="/opt/fleet/conf.d/app.ini", mode="640", **facts
)
unit = files.template(
    name="Dummy unit",
    src="templates/fleet-dummy.service.j2",
    dest="/etc/systemd/system/fleet-dummy.service",
    mode="644",
    **facts,
)
files.line(
    name="Env host",
    path="/opt/fleet/fleet.env",
    line="^FLEET_HOST=.*$",
    replace=f"FLEET_HOST={host.name}",
)
env_mode = files.line(
    name="Env mode", path="/opt/fleet/fleet.env", line="^FLEET_MODE=.*$", replace="FLEET_MODE=bench"
)
systemd.service(
    name="Dummy service", service="fleet-dummy", running=True, enabled=True, daemon_reload=True
)
systemd.service(
    name="restart fleet-dummy",
    service="fleet-dummy",
    restarted=True,
    daemon_reload=True,
    _if=any_changed(conf, unit, env_mode),
)
