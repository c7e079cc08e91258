#!/usr/bin/env bash
# Writes deploy/k8s/base/alert-rules.yaml, the PrometheusRule that carries alerts.yml to the
# Prometheus Operator. Run it after editing alerts.yml; the deployment tests fail while the
# two differ.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
{
  echo "# Written by deploy/monitoring/render-prometheus-rule.sh from deploy/monitoring/alerts.yml: edit that."
  echo "apiVersion: monitoring.coreos.com/v1"
  echo "kind: PrometheusRule"
  echo "metadata:"
  echo "  name: order-pipeline"
  echo "spec:"
  grep -v '^#' "$here/alerts.yml" | sed 's/^/  /'
} > "$here/../k8s/base/alert-rules.yaml"
