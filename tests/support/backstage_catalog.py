"""A Backstage catalog in the descriptor format Backstage documents (backstage.io/v1alpha1):
a System, a Group, Components, APIs and Resources, some with the engine's annotations."""

from __future__ import annotations

#: Written as Backstage documents its descriptor format (System, Group, Components, APIs,
#: Resources), with the engine's annotations on some of them.
CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: shop
spec:
  owner: group:default/shop-team
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: shop-team
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: storefront
  description: The web shop
spec:
  type: website
  lifecycle: production
  owner: group:default/shop-team
  system: shop
  dependsOn:
    - component:checkout-service
  consumesApis:
    - recommendations-api
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout-service
  annotations:
    slo-engine.io/service-id: checkout
    slo-engine.io/dependency-criticality: "resource:default/orders-events=soft"
    slo-engine.io/communication-mode: "orders-events=async"
spec:
  type: service
  lifecycle: production
  owner: shop-team
  dependsOn:
    - resource:default/orders-db
    - orders-events
  consumesApis:
    - api:default/payments-api
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  namespace: money
spec:
  type: service
  lifecycle: production
  owner: group:money/payments-team
  providesApis:
    - default/payments-api
  dependsOn:
    - resource:ledger-db
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: recommender
  annotations:
    slo-engine.io/dependency-criticality: degraded
spec:
  type: service
  lifecycle: experimental
  owner: user:default/jane
  providesApis: [recommendations-api]
  dependsOn: [resource:feature-store]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: payments-api
spec:
  type: grpc
  lifecycle: production
  owner: group:money/payments-team
  definition: "syntax = 'proto3';"
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: recommendations-api
spec:
  type: asyncapi
  lifecycle: production
  owner: shop-team
  definition: "asyncapi: 2.6.0"
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: orders-db
spec:
  type: database
  owner: shop-team
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: orders-events
spec:
  type: topic
  owner: shop-team
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: ledger-db
  namespace: money
spec:
  type: database
  owner: payments-team
"""
