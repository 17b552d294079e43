terraform {
  # strcontains (1.5); output preconditions (1.2). No provider: this module only reads a file.
  required_version = ">= 1.5"
}
