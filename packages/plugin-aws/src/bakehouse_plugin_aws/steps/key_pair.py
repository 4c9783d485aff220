"""The SSH key: the user's, or a temporary key pair."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid

from bakehouse.sdk import (
    CONTINUE,
    Action,
    JournalEntry,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
)
from bakehouse_plugin_aws.resources import (
    KEY_DIR_PREFIX,
    KIND_KEY_DIR,
    KIND_KEY_PAIR,
    delete_key_pair,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
    journal_of,
    record,
    tag_specifications,
)


class StepKeyPair(Step):
    """The user's key (``ssh_private_key_file``) or a temporary key pair whose
    private key lives in a 0600 file in a 0700 temporary directory."""

    name = "key pair"

    def __init__(self) -> None:
        self.key_name = ""
        self.key_dir = ""
        self.entries: list[JournalEntry] = []

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        state["key_pair_name"] = config.ssh_keypair_name
        if config.ssh_private_key_file:
            state.ui.say(f"Using existing SSH private key {config.ssh_private_key_file}")
            with open(os.path.expanduser(config.ssh_private_key_file), encoding="utf-8") as fh:
                state["private_key_pem"] = fh.read()
            return CONTINUE
        if not config.temporary_key_pair_wanted():
            return CONTINUE
        name = config.temporary_key_pair_name or f"bakehouse_{uuid.uuid4().hex}"
        ec2 = state["ec2"]
        state.ui.say(f"Creating temporary keypair: {name}")
        self.entries.append(record(state, KIND_KEY_PAIR, name, config.region))
        tags = tag_specifications(state, "key-pair", config.merged_tags("run"))
        try:
            if config.temporary_key_pair_bits:
                # EC2 makes 2048-bit keys only: make the key here, import its public half.
                import paramiko

                key = paramiko.RSAKey.generate(config.temporary_key_pair_bits)
                buffer = io.StringIO()
                key.write_private_key(buffer)
                material: str = buffer.getvalue()
                call(f"importing key pair {name}", ec2.import_key_pair, KeyName=name,
                     PublicKeyMaterial=f"{key.get_name()} {key.get_base64()}".encode(), **tags)
            else:
                created = call(f"creating key pair {name}", ec2.create_key_pair,
                               KeyName=name, KeyType=config.temporary_key_pair_type, **tags)
                material = created["KeyMaterial"]
        except AwsError as exc:
            if "Duplicate" in str(exc):
                raise AwsError(
                    f"a key pair named {name!r} already exists: temporary_key_pair_name must name "
                    "a key pair that does not exist yet (Bakehouse creates it and deletes it "
                    "afterwards; it never touches one it did not create)") from None
            raise
        # Only now is the key pair ours to delete.
        self.key_name = name
        # Never in a log line of this plugin (relayed to the core's log).
        from bakehouse.log import add_sensitive

        add_sensitive([material])
        # mkdtemp makes the directory 0700; the key file is created 0600 before
        # any byte is written, so the key is never readable by others.
        self.key_dir = tempfile.mkdtemp(prefix=KEY_DIR_PREFIX)
        self.entries.append(journal_of(state).record(KIND_KEY_DIR, self.key_dir))
        path = os.path.join(self.key_dir, f"ec2_{name}.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(material)
        state.update(key_pair_name=name, private_key_pem=material, private_key_path=path)
        state["generated"]["SSHPrivateKeyFile"] = path
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if self.key_dir:
            shutil.rmtree(self.key_dir, ignore_errors=True)
        if self.key_name:
            state.ui.say("Deleting temporary keypair...")
            delete_key_pair(state["ec2"], self.key_name)
        for entry in self.entries:
            journal_of(state).forget(entry)
