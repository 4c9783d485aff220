"""Entry point of the ``bakehouse-plugin-shell`` executable."""

from bakehouse.sdk import serve

from bakehouse_plugin_shell import __version__

# Named, not imported: each module loads when the core first creates the
# component, so the handshake does not wait for pydantic.
_PACKAGE = "bakehouse_plugin_shell"


def main() -> None:
    serve(
        plugin="bakehouse-plugin-shell",
        version=__version__,
        provisioners={
            "shell": f"{_PACKAGE}.shell:ShellProvisioner",
            "shell-local": f"{_PACKAGE}.shell_local:ShellLocalProvisioner",
        },
        post_processors={"shell-local": f"{_PACKAGE}.shell_local:ShellLocalPostProcessor"},
        cleaners=f"{_PACKAGE}._tempscript",
    )


if __name__ == "__main__":
    main()
