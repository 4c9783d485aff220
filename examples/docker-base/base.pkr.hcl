# The base image for the other Docker examples, made without any registry:
# a root filesystem around Debian's static busybox (package busybox-static),
# packed by shell-local and imported into the local engine by docker-import.
#
#   .venv/bin/bakehouse build examples/docker-base
#
# Result: bakehouse-example/busybox:latest (override with -var repository=... -var tag=...).

variable "repository" {
  type    = string
  default = "bakehouse-example/busybox"
}

variable "tag" {
  type    = string
  default = "latest"
}

variable "busybox" {
  type        = string
  default     = "/usr/bin/busybox"
  description = "A statically linked busybox (Debian: busybox-static)."
}

locals {
  rootfs  = "${abspath(path.root)}/build/rootfs"
  tarball = "${abspath(path.root)}/build/rootfs.tar"
}

# The file builder writes the one file busybox cannot make for itself: the
# user database. Everything else is laid out by make-rootfs.sh.
source "file" "passwd" {
  target  = "${local.rootfs}/etc/passwd"
  content = <<-EOT
    root:x:0:0:root:/root:/bin/sh
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false
    app:x:1000:1000:app:/home/app:/bin/sh
  EOT
}

build {
  sources = ["source.file.passwd"]

  post-processors {
    post-processor "shell-local" {
      script           = "${path.root}/make-rootfs.sh"
      environment_vars = ["BUSYBOX=${var.busybox}", "ROOTFS=${local.rootfs}", "OUTPUT=${local.tarball}"]
    }
    post-processor "artifice" {
      files = [local.tarball]
    }
    post-processor "docker-import" {
      repository = var.repository
      tag        = var.tag
      changes = [
        "CMD [\"/bin/sh\"]",
        "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LABEL org.opencontainers.image.description=\"busybox base built by examples/docker-base\"",
      ]
    }
  }
}
