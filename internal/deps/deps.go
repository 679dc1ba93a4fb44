// Package deps pins the modules the project uses while its packages are being
// written in parallel, so that `go mod tidy` does not drop them. It is removed
// once every module is imported by real code.
package deps

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/chromedp/chromedp"
	_ "github.com/gin-gonic/gin"
	_ "github.com/gorilla/websocket"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/goleak"
	_ "golang.org/x/time/rate"
	_ "sigs.k8s.io/yaml"
)
