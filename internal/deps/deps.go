//go:build tools

// Package deps pins the modules that packages still being written will import,
// so go.mod and go.sum stay complete while they land. Removed once they have.
package deps

import (
	_ "github.com/elimity-com/scim"
	_ "github.com/labstack/echo/v4"
	_ "github.com/slack-go/slack"
	_ "github.com/temporalio/ui-server/v2/server"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/testsuite"
	_ "go.temporal.io/sdk/worker"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	_ "go.temporal.io/server/schema/sqlite"
	_ "go.temporal.io/server/temporal"
	_ "gopkg.in/yaml.v3"
	_ "gorm.io/driver/postgres"
	_ "gorm.io/driver/sqlite"
	_ "gorm.io/gorm"
	_ "modernc.org/sqlite"
)
