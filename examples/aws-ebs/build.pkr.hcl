# Bake an AMI with amazon-ebs against any EC2 endpoint. run_with_moto.py runs
# it without an AWS account: a moto server on loopback plays EC2 and a
# loopback sshd plays the instance (ssh_host/ssh_port point at it).

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "ssh_host" {
  type    = string
  default = ""
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "ssh_username" {
  type    = string
  default = "ubuntu"
}

variable "ssh_private_key_file" {
  type = string
}

variable "ssh_keypair_name" {
  type = string
}

data "amazon-ami" "base" {
  region      = var.region
  filters     = { name = "example-base-*" }
  owners      = ["self"]
  most_recent = true
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "amazon-ebs" "example" {
  region        = var.region
  instance_type = "t3.micro"
  source_ami    = data.amazon-ami.base.id
  ami_name      = "bakehouse-example-${local.stamp}"
  ami_regions   = ["us-west-2"]

  tags = {
    Name = "bakehouse-example"
    Base = data.amazon-ami.base.name
  }
  snapshot_tags = {
    Name = "bakehouse-example"
  }

  ssh_username         = var.ssh_username
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_keypair_name     = var.ssh_keypair_name
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "1m"

  aws_polling {
    delay_seconds = 1
    max_attempts  = 120
  }
}

build {
  sources = ["source.amazon-ebs.example"]

  provisioner "shell" {
    inline = [
      "echo \"provisioning ${build.ID} as $(whoami)\"",
      "uname -sr",
    ]
  }
}
