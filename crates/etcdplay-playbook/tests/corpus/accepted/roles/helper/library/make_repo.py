#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
def main():
    m = AnsibleModule(argument_spec=dict(tempdir=dict()))
    m.exit_json(changed=True, repo_dir=m.params['tempdir'])
main()
