// [balancer.azure]: oai-lb serve on Azure Container Apps, as `oai-lb deploy` creates it
// (src/azure/container_apps.rs; tests/bicep.rs checks names and settings): a Consumption
// environment logging to Log Analytics (the [monitoring] workspace, or its own), an Azure
// Cache for Redis (TLS only) for the replicas' shared cooldowns, and the app with the config
// as a secret volume, keys as secrets behind variables, the stack's identity, external
// ingress and an HTTP scale rule on concurrent requests.
param apimName string
param location string

@description('The user-assigned identity the app runs as (OpenAI User on the accounts).')
param identityId string
param identityClientId string

@description('An existing Log Analytics workspace (ARM id); empty: create one named like [monitoring]\'s.')
param existingWorkspaceId string = ''

param image string
param name string = '${toLower(apimName)}-lb'
param minReplicas int = 1
param maxReplicas int = 10
param concurrentRequests int = 50
param cpu string = '0.5'
param memory string = '1Gi'

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param redisSku string = 'Basic'
param redisCapacity int = 0

@description('The port serve listens on in the container (balancer.listen\'s port).')
param targetPort int = 8080

@description('The oai-lb.toml the app mounts (bicep/oai-lb-container.toml, rendered from the config).')
@secure()
param configToml string

@description('The variable client_keys_env names, and its value (comma-separated keys).')
param clientKeysEnv string
@secure()
param clientKeys string

var createWorkspace = empty(existingWorkspaceId)
var workspaceParts = split(createWorkspace ? '/subscriptions/-/resourceGroups/-/providers/Microsoft.OperationalInsights/workspaces/-' : existingWorkspaceId, '/')

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = if (createWorkspace) {
  name: '${apimName}-logs'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource existingWorkspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' existing = if (!createWorkspace) {
  name: workspaceParts[8]
  scope: resourceGroup(workspaceParts[2], workspaceParts[4])
}

resource environment 'Microsoft.App/managedEnvironments@2025-07-01' = {
  name: '${toLower(apimName)}-env'
  location: location
  tags: {
    'managed-by': 'oai-lb'
  }
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: createWorkspace ? workspace.properties.customerId : existingWorkspace.properties.customerId
        sharedKey: createWorkspace ? workspace.listKeys().primarySharedKey : existingWorkspace.listKeys().primarySharedKey
      }
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource redis 'Microsoft.Cache/redis@2024-11-01' = {
  name: '${toLower(apimName)}-redis'
  location: location
  tags: {
    'managed-by': 'oai-lb'
  }
  properties: {
    sku: {
      name: redisSku
      family: redisSku == 'Premium' ? 'P' : 'C'
      capacity: redisCapacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource app 'Microsoft.App/containerApps@2025-07-01' = {
  name: name
  location: location
  tags: {
    'managed-by': 'oai-lb'
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: targetPort
        transport: 'auto'
        allowInsecure: false
      }
      secrets: [
        {
          name: 'oai-lb-config'
          value: configToml
        }
        {
          name: 'client-keys'
          value: clientKeys
        }
        {
          name: 'redis-password'
          value: redis.listKeys().primaryKey
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'oai-lb'
          image: image
          env: [
            {
              name: 'OAI_LB_CONFIG'
              value: '/etc/oai-lb/oai-lb.toml'
            }
            {
              name: 'OAI_LB_CREDENTIAL'
              value: 'managed-identity'
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: identityClientId
            }
            {
              name: 'OAI_LB_LOG_FORMAT'
              value: 'json'
            }
            {
              name: clientKeysEnv
              secretRef: 'client-keys'
            }
            {
              name: 'OAI_LB_REDIS_PASSWORD'
              secretRef: 'redis-password'
            }
          ]
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: '/etc/oai-lb'
            }
          ]
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: targetPort
              }
              periodSeconds: 10
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: targetPort
              }
              periodSeconds: 5
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'concurrent-requests'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
        ]
      }
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'oai-lb-config'
              path: 'oai-lb.toml'
            }
          ]
        }
      ]
    }
  }
}

output url string = 'https://${app.properties.configuration.ingress.fqdn}'
