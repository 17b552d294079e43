output "bucket_name" {
  description = "Name of the notebook bucket (the access policy file's deployment.notebook_bucket, where the hub points S3Contents)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the notebook bucket."
  value       = aws_s3_bucket.this.arn
}
