package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

// Handlers of MLflow 3's logged models, run inputs and outputs, and the UI's
// dataset list. Request shapes follow MLflow's handlers.py; the model id of
// the /logged-models/{model_id} routes comes from the path, even where MLflow
// also requires it in the body (and then ignores the body's value).

type loggedModelResponse struct {
	Model wireLoggedModel `json:"model"`
}

// params reads a list of {key, value} as model params; like MLflow, an entry
// without a key is kept with an empty key.
func modelParams(f *fields) ([]tracking.Param, error) {
	tags, err := f.tags("params", false)
	if err != nil {
		return nil, err
	}
	out := make([]tracking.Param, len(tags))
	for i, t := range tags {
		out[i] = tracking.Param{Key: t.Key, Value: t.Value}
	}
	return out, nil
}

func (s *Server) createLoggedModel(r *http.Request, f *fields) (any, error) {
	var m tracking.NewLoggedModel
	var err error
	if m.ExperimentID, err = f.str("experiment_id", true); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		name string
		dst  *string
	}{{"name", &m.Name}, {"model_type", &m.ModelType}, {"source_run_id", &m.SourceRunID}} {
		if *x.dst, err = f.str(x.name, false); err != nil {
			return nil, err
		}
	}
	if m.Params, err = modelParams(f); err != nil {
		return nil, err
	}
	if m.Tags, err = f.tags("tags", false); err != nil {
		return nil, err
	}
	model, err := s.svc.CreateLoggedModel(r.Context(), m)
	if err != nil {
		return nil, err
	}
	return loggedModelResponse{toWireLoggedModel(model)}, nil
}

func (s *Server) getLoggedModel(r *http.Request, _ *fields) (any, error) {
	// MLflow reads the flag from the query string only, and anything but
	// "true" (any case) is false.
	allowDeleted := strings.EqualFold(r.URL.Query().Get("allow_deleted"), "true")
	model, err := s.svc.GetLoggedModel(r.Context(), r.PathValue("model_id"), allowDeleted)
	if err != nil {
		return nil, err
	}
	return loggedModelResponse{toWireLoggedModel(model)}, nil
}

// parseModelStatus accepts a LoggedModelStatus name or its proto number.
// MLflow stores UNSPECIFIED for anything else; mltrack refuses it, as it
// refuses unknown run statuses (decision 0004).
func parseModelStatus(v any) (tracking.LoggedModelStatus, bool) {
	if s, ok := v.(string); ok {
		if st, ok := tracking.ParseLoggedModelStatus(s); ok {
			return st, true
		}
	}
	if n, ok := toInt64(v); ok && n >= int64(tracking.ModelStatusUnspecified) && n <= int64(tracking.ModelStatusUploadFailed) {
		return tracking.LoggedModelStatus(n), true
	}
	return 0, false
}

func (s *Server) finalizeLoggedModel(r *http.Request, f *fields) (any, error) {
	if _, err := f.str("model_id", true); err != nil {
		return nil, err
	}
	v, ok := f.raw("status")
	if !ok {
		return nil, missingValue("status")
	}
	st, good := parseModelStatus(v)
	if !good {
		return nil, invalidValue("status", v)
	}
	model, err := s.svc.FinalizeLoggedModel(r.Context(), r.PathValue("model_id"), st)
	if err != nil {
		return nil, err
	}
	return loggedModelResponse{toWireLoggedModel(model)}, nil
}

func (s *Server) deleteLoggedModel(r *http.Request, _ *fields) (any, error) {
	return nil, s.svc.DeleteLoggedModel(r.Context(), r.PathValue("model_id"))
}

// setLoggedModelTags answers {} as MLflow does, although the proto declares
// the model in its response.
func (s *Server) setLoggedModelTags(r *http.Request, f *fields) (any, error) {
	tags, err := f.tags("tags", false)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.SetLoggedModelTags(r.Context(), r.PathValue("model_id"), tags)
}

func (s *Server) deleteLoggedModelTag(r *http.Request, _ *fields) (any, error) {
	return nil, s.svc.DeleteLoggedModelTag(r.Context(), r.PathValue("model_id"), r.PathValue("tag_key"))
}

func (s *Server) logLoggedModelParams(r *http.Request, f *fields) (any, error) {
	if _, err := f.str("model_id", true); err != nil {
		return nil, err
	}
	params, err := modelParams(f)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.LogLoggedModelParams(r.Context(), r.PathValue("model_id"), params)
}

func (s *Server) searchLoggedModels(r *http.Request, f *fields) (any, error) {
	if _, ok := f.raw("experiment_ids"); !ok {
		return nil, missingValue("experiment_ids")
	}
	var req tracking.LoggedModelSearch
	var err error
	if req.ExperimentIDs, err = f.strList("experiment_ids"); err != nil {
		return nil, err
	}
	if req.Filter, err = f.str("filter", false); err != nil {
		return nil, err
	}
	if req.PageToken, err = f.str("page_token", false); err != nil {
		return nil, err
	}
	maxResults, given, err := f.int64Field("max_results", false)
	if err != nil {
		return nil, err
	}
	if !given {
		maxResults = tracking.SearchLoggedModelsDefault
	}
	req.MaxResults = maxResults
	datasets, err := f.objList("datasets")
	if err != nil {
		return nil, err
	}
	for i, d := range datasets {
		var ref tracking.DatasetRef
		if ref.Name, err = d.str("dataset_name", false); err != nil {
			return nil, prefixed(err, "datasets["+strconv.Itoa(i)+"]")
		}
		if ref.Digest, err = d.str("dataset_digest", false); err != nil {
			return nil, prefixed(err, "datasets["+strconv.Itoa(i)+"]")
		}
		req.Datasets = append(req.Datasets, ref)
	}
	orders, err := f.objList("order_by")
	if err != nil {
		return nil, err
	}
	for i, o := range orders {
		path := "order_by[" + strconv.Itoa(i) + "]"
		ob := tracking.LoggedModelOrderBy{Ascending: true}
		for _, x := range []struct {
			name string
			dst  *string
		}{{"field_name", &ob.FieldName}, {"dataset_name", &ob.DatasetName}, {"dataset_digest", &ob.DatasetDigest}} {
			if *x.dst, err = o.str(x.name, false); err != nil {
				return nil, prefixed(err, path)
			}
		}
		if asc, ok, err := o.boolField("ascending"); err != nil {
			return nil, prefixed(err, path)
		} else if ok {
			ob.Ascending = asc
		}
		req.OrderBy = append(req.OrderBy, ob)
	}
	models, next, err := s.svc.SearchLoggedModels(r.Context(), req)
	if err != nil {
		return nil, err
	}
	out := struct {
		Models        []wireLoggedModel `json:"models,omitempty"`
		NextPageToken string            `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for i := range models {
		out.Models = append(out.Models, toWireLoggedModel(&models[i]))
	}
	return out, nil
}

// ---- run inputs and outputs ----

func (s *Server) logInputs(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	dobjs, err := f.objList("datasets")
	if err != nil {
		return nil, err
	}
	datasets := make([]tracking.DatasetInput, len(dobjs))
	for i, o := range dobjs {
		path := "datasets[" + strconv.Itoa(i) + "]"
		if datasets[i].Tags, err = o.tags("tags", false); err != nil {
			return nil, prefixed(err, path)
		}
		d, err := o.object("dataset")
		if err != nil {
			return nil, prefixed(err, path)
		}
		ds := &datasets[i].Dataset
		for _, x := range []struct {
			name string
			dst  *string
		}{{"name", &ds.Name}, {"digest", &ds.Digest}, {"source_type", &ds.SourceType},
			{"source", &ds.Source}, {"schema", &ds.Schema}, {"profile", &ds.Profile}} {
			if *x.dst, err = d.str(x.name, false); err != nil {
				return nil, prefixed(err, path+".dataset")
			}
		}
	}
	mobjs, err := f.objList("models")
	if err != nil {
		return nil, err
	}
	var models []tracking.ModelInput
	for i, o := range mobjs {
		mid, err := o.str("model_id", false)
		if err != nil {
			return nil, prefixed(err, "models["+strconv.Itoa(i)+"]")
		}
		models = append(models, tracking.ModelInput{ModelID: mid})
	}
	return nil, s.svc.LogInputs(r.Context(), id, datasets, models)
}

func (s *Server) logOutputs(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	if _, ok := f.raw("models"); !ok {
		return nil, missingValue("models")
	}
	mobjs, err := f.objList("models")
	if err != nil {
		return nil, err
	}
	models := make([]tracking.ModelOutput, len(mobjs))
	for i, o := range mobjs {
		path := "models[" + strconv.Itoa(i) + "]"
		if models[i].ModelID, err = o.str("model_id", false); err != nil {
			return nil, prefixed(err, path)
		}
		if models[i].Step, _, err = o.int64Field("step", false); err != nil {
			return nil, prefixed(err, path)
		}
	}
	return nil, s.svc.LogOutputs(r.Context(), id, models)
}

// searchDatasets is the UI's POST /ajax-api/2.0/mlflow/experiments/search-datasets.
func (s *Server) searchDatasets(r *http.Request, f *fields) (any, error) {
	ids, err := f.strList("experiment_ids")
	if err != nil {
		return nil, err
	}
	rows, err := s.svc.SearchDatasets(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := struct {
		DatasetSummaries []wireDatasetSummary `json:"dataset_summaries,omitempty"`
	}{}
	for _, d := range rows {
		out.DatasetSummaries = append(out.DatasetSummaries, wireDatasetSummary{
			ExperimentID: d.ExperimentID, Name: d.Name, Digest: d.Digest, Context: d.Context,
		})
	}
	return out, nil
}
