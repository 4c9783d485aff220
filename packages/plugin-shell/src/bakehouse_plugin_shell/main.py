"""Entry point of the ``bakehouse-plugin-shell`` executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_shell import __version__
from bakehouse_plugin_shell.shell import ShellProvisioner
from bakehouse_plugin_shell.shell_local import ShellLocalPostProcessor, ShellLocalProvisioner


def main() -> None:
    serve(
        plugin="bakehouse-plugin-shell",
        version=__version__,
        provisioners={"shell": ShellProvisioner, "shell-local": ShellLocalProvisioner},
        post_processors={"shell-local": ShellLocalPostProcessor},
    )


if __name__ == "__main__":
    main()
