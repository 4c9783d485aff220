# A null build: no machine, just provisioners and post-processors.
#   bakehouse build examples/null-hello
#   bakehouse build -var who=baker examples/null-hello
# writes examples/null-hello/output/hello.txt and a manifest next to it.

variable "who" {
  type        = string
  default     = "world"
  description = "Who to greet."
}

locals {
  output_dir = "${path.root}/output"
}

source "null" "hello" {}

build {
  name    = "greeting"
  sources = ["source.null.hello"]

  provisioner "shell-local" {
    inline = [
      "mkdir -p ${local.output_dir}",
      "echo 'Hello, ${var.who}! Baked by ${source.type}.${source.name}.' > ${local.output_dir}/hello.txt",
      "cat ${local.output_dir}/hello.txt",
    ]
  }

  provisioner "sleep" {
    duration = "100ms"
  }

  post-processor "manifest" {
    output     = "${local.output_dir}/manifest.json"
    strip_path = true
    custom_data = {
      greeted = var.who
    }
  }
}
