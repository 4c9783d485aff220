# Bakehouse's main example: a small web image built on the local Docker engine
# from the base image of examples/docker-base (no registry involved).
#
#   .venv/bin/bakehouse build examples/docker-base     # once: the base image
#   .venv/bin/bakehouse build examples/docker-hello
#   docker run --rm bakehouse-example/hello:latest
#   docker run --rm -p 8080:8080 bakehouse-example/hello:latest "httpd -f -v -p 8080 -h /srv/www"
#
# (examples/docker-hello/run.sh does all of it, setup included.)

variable "base_image" {
  type    = string
  default = "bakehouse-example/busybox:latest"
}

variable "repository" {
  type    = string
  default = "bakehouse-example/hello"
}

variable "tag" {
  type    = string
  default = "latest"
}

source "docker" "hello" {
  image  = var.base_image
  pull   = false # built locally by examples/docker-base; there is no registry to pull from
  commit = true
  changes = [
    "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
    "CMD [\"/usr/local/bin/hello\"]",
    "ENV GREETING=Hello",
    "EXPOSE 8080",
    "LABEL org.opencontainers.image.title=bakehouse-hello",
    "USER app",
    "WORKDIR /srv/www",
  ]
}

build {
  sources = ["source.docker.hello"]

  provisioner "file" {
    source      = "${path.root}/files/hello.sh"
    destination = "/usr/local/bin/hello"
  }

  provisioner "file" {
    source      = "${path.root}/files/www/"
    destination = "/srv/www"
  }

  provisioner "shell" {
    inline = [
      "chmod 755 /usr/local/bin/hello",
      "echo \"Baked by Bakehouse in container ${build.ID} at $(date -u '+%Y-%m-%d %H:%M:%S') UTC\" > /srv/www/build-info.txt",
      "chown -R app:app /srv/www",
    ]
  }

  post-processor "docker-tag" {
    repository = var.repository
    tags       = [var.tag]
  }
}
