//! The simulated fleet's project: the fleet benchmark's facts and ten tasks, with paths under
//! each host's `workdir` so the recording run only writes in a scratch directory, and without
//! the systemd task (the recording host is the control node itself). Its template and lines
//! depend on nothing host-specific: a replayed answer carries the recorded host's checksums
//! and base64 file contents, where the host's name cannot be put back.

use std::path::{Path, PathBuf};

use etcdplay_engine::{InventoryView, PatternError};
use etcdplay_template::Precedence;
use serde_json::{json, Map, Value};

const PLAYBOOK: &str = r#"- hosts: all
  gather_facts: yes
  tasks:
    - name: App dir
      file: path={{ workdir }}/opt/fleet state=directory mode=0755
    - name: Conf dir
      file: path={{ workdir }}/opt/fleet/conf.d state=directory mode=0750
    - name: Data dir
      file: path={{ workdir }}/opt/fleet/data state=directory mode=0700
    - name: Banner
      copy:
        content: "fleet benchmark host\n"
        dest: "{{ workdir }}/opt/fleet/motd"
        mode: "0644"
    - name: Static config
      copy: src=files/fleet.conf dest={{ workdir }}/opt/fleet/fleet.conf mode=0644
      notify: note restart
    - name: App config
      template: src=templates/app.ini.j2 dest={{ workdir }}/opt/fleet/conf.d/app.ini mode=0640
    - name: Env group
      lineinfile: path={{ workdir }}/opt/fleet/fleet.env create=yes line="FLEET_GROUP={{ group_names | first }}" regexp="^FLEET_GROUP="
    - name: Env mode
      lineinfile: path={{ workdir }}/opt/fleet/fleet.env line="FLEET_MODE=bench" regexp="^FLEET_MODE="
      notify: note restart
    - name: Unit file present
      stat: path={{ workdir }}/opt/fleet/fleet.conf
      register: conf
    - name: Service check
      command: "true"
      changed_when: false
      when: conf.stat.exists
  handlers:
    - name: note restart
      copy: content=restarted dest={{ workdir }}/opt/fleet/restarted
"#;

const TEMPLATE: &str = "[app]\npeers = {{ groups['all'] | length > 0 }}\nfamily = \
    {{ ansible_os_family | default('unknown') }}\n";

/// A scratch project: the playbook, its files and templates, and each host's `workdir`.
pub struct SimProject {
    pub dir: tempfile::TempDir,
}

impl SimProject {
    pub fn playbook(&self) -> PathBuf {
        self.dir.path().join("fleet-sim.yml")
    }
}

/// Writes the project into a new temporary directory.
pub fn write_project() -> std::io::Result<SimProject> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::create_dir_all(d.join("files"))?;
    std::fs::create_dir_all(d.join("templates"))?;
    std::fs::write(d.join("fleet-sim.yml"), PLAYBOOK)?;
    std::fs::write(d.join("files/fleet.conf"), "[fleet]\nlevel = info\n")?;
    std::fs::write(d.join("templates/app.ini.j2"), TEMPLATE)?;
    Ok(SimProject { dir })
}

/// `count` hosts named `{prefix}{i:06}` in group `fleet`, each with `workdir` = `root/NAME`.
pub struct SimInventory {
    hosts: Vec<String>,
    known: std::collections::HashSet<String>,
    root: PathBuf,
}

impl SimInventory {
    pub fn new(names: Vec<String>, root: &Path) -> SimInventory {
        SimInventory {
            known: names.iter().cloned().collect(),
            hosts: names,
            root: root.to_path_buf(),
        }
    }
}

impl InventoryView for SimInventory {
    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }
    fn has_host(&self, host: &str) -> bool {
        self.known.contains(host)
    }
    fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        Ok(match pattern {
            "all" | "fleet" => self.hosts.clone(),
            p => self.hosts.iter().filter(|h| *h == p).cloned().collect(),
        })
    }
    fn host_layers(&self, host: &str, _dir: &Path) -> Vec<(Precedence, Map<String, Value>)> {
        let mut vars = Map::new();
        let workdir = self.root.join(host).display().to_string();
        vars.insert("workdir".into(), json!(workdir));
        vec![(Precedence::InventoryVars, vars)]
    }
    fn groups(&self) -> Map<String, Value> {
        let mut groups = Map::new();
        groups.insert("all".into(), json!(self.hosts));
        groups.insert("fleet".into(), json!(self.hosts));
        groups
    }
    fn group_names(&self, _host: &str) -> Vec<String> {
        vec!["fleet".into()]
    }
}
