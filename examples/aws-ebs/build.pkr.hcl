# Bake an AMI with amazon-ebs. Nothing here is specific to the local EC2 but
# the base AMI's name: run_on_local_ec2.py points it at a local EC2, where
# the instance is a Debian container reached over SSH on its own 127.0.0.N
# and the AMI is a Docker image that can be launched again.

variable "region" {
  type    = string
  default = "us-east-1"
}

data "amazon-ami" "base" {
  region      = var.region
  filters     = { name = "debian-12-bakehouse-local" }
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

  # Debian's login user; a temporary key pair is made for the build.
  ssh_username = "admin"
  ssh_timeout  = "2m"

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
      "echo \"baked by bakehouse on ${build.ID}\" | sudo tee /etc/bakehouse-release",
      "sudo useradd --create-home --shell /bin/bash app",
    ]
  }
}
