package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/catqms/catqms/queue"
)

// tokenSources says where a route looks for the token.
type tokenSources int

const (
	bearerOnly   tokenSources = iota // GET routes: Authorization only
	bearerOrBody                     // POST and DELETE: also JSON or form
)

// tokenOf returns the request's token. The answer is a *queue.Error with
// CodeBadRequest when there is none or the body cannot be read.
//
// The Authorization header wins; a body, when the route reads one and the
// request sends one, must still parse and fit in maxBodyBytes, and if it
// names a token too, the two must agree. A body whose type is neither JSON
// nor a form is ignored.
func tokenOf(r *http.Request, from tokenSources) (string, error) {
	bearer, hasBearer, err := bearerToken(r.Header.Values("Authorization"))
	if err != nil {
		return "", err
	}
	var inBody string
	if from == bearerOrBody {
		if inBody, err = bodyToken(r); err != nil {
			return "", err
		}
	}
	switch {
	case hasBearer && inBody != "" && inBody != bearer:
		return "", queue.Errorf(queue.CodeBadRequest, "the Authorization header and the body name different tokens")
	case hasBearer:
		return bearer, nil
	case inBody != "":
		return inBody, nil
	case from == bearerOnly:
		return "", queue.Errorf(queue.CodeBadRequest, "send the token as Authorization: Bearer TOKEN")
	default:
		return "", queue.Errorf(queue.CodeBadRequest,
			`send the token as Authorization: Bearer TOKEN, JSON {"token": …} or the form field token`)
	}
}

// bearerToken reads "Authorization: Bearer TOKEN". No header is no token;
// any other scheme, several headers or an empty token is a bad request.
func bearerToken(values []string) (token string, ok bool, err error) {
	switch len(values) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, queue.Errorf(queue.CodeBadRequest, "send one Authorization header")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, queue.Errorf(queue.CodeBadRequest, "the Authorization scheme must be Bearer")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", false, queue.Errorf(queue.CodeBadRequest, "the bearer token is empty")
	}
	return token, true, nil
}

// bodyToken reads the token from a JSON or form body. An absent or empty
// body gives "".
func bodyToken(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return "", queue.Errorf(queue.CodeBadRequest, "the body is larger than %d bytes", maxBodyBytes)
		}
		return "", queue.Errorf(queue.CodeBadRequest, "the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", nil // not a body we read tokens from
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return jsonToken(body)
	case mediaType == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", queue.Errorf(queue.CodeBadRequest, "the form body does not parse")
		}
		return formToken(form)
	case mediaType == "multipart/form-data":
		if params["boundary"] == "" {
			return "", queue.Errorf(queue.CodeBadRequest, "the multipart body has no boundary")
		}
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxBodyBytes)
		if err != nil {
			return "", queue.Errorf(queue.CodeBadRequest, "the multipart body does not parse")
		}
		defer form.RemoveAll()
		return formToken(form.Value)
	default:
		return "", nil
	}
}

// jsonToken reads {"token": "…"}: exactly one object, token a string.
func jsonToken(body []byte) (string, error) {
	var v struct {
		Token *string `json:"token"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return "", queue.Errorf(queue.CodeBadRequest, `the body is not a JSON object like {"token": "…"}`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", queue.Errorf(queue.CodeBadRequest, "the body has data after the JSON object")
	}
	if v.Token == nil {
		return "", nil
	}
	if strings.TrimSpace(*v.Token) == "" { // blank is missing: 400 (or banned), never a forgery
		return "", queue.Errorf(queue.CodeBadRequest, "the token is empty")
	}
	return *v.Token, nil
}

// formToken reads the form field token: at most one, not empty.
func formToken(form url.Values) (string, error) {
	values, ok := form["token"]
	switch {
	case !ok:
		return "", nil
	case len(values) != 1:
		return "", queue.Errorf(queue.CodeBadRequest, "send one token field")
	case strings.TrimSpace(values[0]) == "":
		return "", queue.Errorf(queue.CodeBadRequest, "the token is empty")
	}
	return values[0], nil
}
