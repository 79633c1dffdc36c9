output "datasets_bucket_name" {
  description = "Name of the datasets bucket."
  value       = aws_s3_bucket.data["datasets"].id
}

output "datasets_bucket_arn" {
  description = "ARN of the datasets bucket."
  value       = aws_s3_bucket.data["datasets"].arn
}

output "artifacts_bucket_name" {
  description = "Name of the artifacts bucket (MLflow artifact store, model files KServe loads)."
  value       = aws_s3_bucket.data["artifacts"].id
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.data["artifacts"].arn
}

output "access_log_bucket_name" {
  description = "Name of the bucket that receives the data buckets' server access logs."
  value       = aws_s3_bucket.logs.id
}
