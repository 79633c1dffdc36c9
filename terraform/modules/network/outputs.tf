output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "azs" {
  description = "Availability zones the subnets are spread over."
  value       = local.azs
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per availability zone (cluster nodes, database)."
  value       = [for az in local.azs : aws_subnet.private[az].id]
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per availability zone (NAT gateways, internet-facing load balancers)."
  value       = [for az in local.azs : aws_subnet.public[az].id]
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways: the addresses the cluster's egress traffic comes from."
  value       = [for az in local.nat_azs : aws_eip.nat[az].public_ip]
}

output "flow_log_group_name" {
  description = "Name of the CloudWatch log group that receives the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}
