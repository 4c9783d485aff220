# shell-local: commands on the machine running Bakehouse, no Docker or cloud needed.
#
#   .venv/bin/bakehouse build examples/shell-local
#   .venv/bin/bakehouse build -var greeting=Bonjour examples/shell-local
#
# The result lands in examples/shell-local/output/.

variable "greeting" {
  type    = string
  default = "Hello"
}

locals {
  out_dir = "${path.root}/output"
}

source "null" "workstation" {
  communicator = "none"
}

build {
  sources = ["source.null.workstation"]

  # Inline commands: written to a temporary script that starts with
  # inline_shebang ("/bin/sh -e"), run through execute_command.
  provisioner "shell-local" {
    inline = [
      "mkdir -p ${local.out_dir}",
      "echo \"$GREETING from $PACKER_BUILD_NAME ($PACKER_BUILDER_TYPE)\" > ${local.out_dir}/greeting.txt",
    ]
    environment_vars = ["GREETING=${var.greeting}"]
  }

  # A script file; relative paths would be relative to the current directory,
  # as in Packer, hence path.root.
  provisioner "shell-local" {
    script = "${path.root}/scripts/inventory.sh"
    env    = { OUT_DIR = local.out_dir }
  }

  # The post-processor passes the artifact on (it is listed twice in the summary, as in Packer).
  post-processor "shell-local" {
    inline = ["cat ${local.out_dir}/greeting.txt ${local.out_dir}/inventory.txt"]
  }
}
