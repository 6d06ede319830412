// plot_model: DOT text for the graph, rendered by Graphviz's dot program into a temp file that
// replaces the destination only when dot succeeded.
#include "kiln/plot_model.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

#include "core/check.h"
#include "io/atomic_file.h"

extern char** environ;

namespace kiln {

namespace {

// Escapes a label for a DOT record: braces, bars and angle brackets are syntax there.
std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '{' || c == '}' || c == '|' || c == '<' || c == '>' || c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

std::string format_of(const std::string& path) {
  const auto dot = path.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  KILN_CHECK(ext == "png" || ext == "svg", "plot_model: expected a .png or .svg path, found '{}'",
             path);
  return ext;
}

void run_dot(const std::string& format, const std::string& dot_file, const std::string& out_file) {
  const std::string type = "-T" + format;
  const std::string out = "-o" + out_file;
  char* argv[] = {const_cast<char*>("dot"), const_cast<char*>(type.c_str()),
                  const_cast<char*>(out.c_str()), const_cast<char*>(dot_file.c_str()), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, "dot", nullptr, nullptr, argv, environ);
  KILN_CHECK(spawned == 0,
             "plot_model: cannot run Graphviz's dot program ({}); install the Debian "
             "package graphviz",
             std::strerror(spawned));
  int status = 0;
  KILN_CHECK(waitpid(pid, &status, 0) == pid, "plot_model: lost track of the dot process");
  KILN_CHECK(
      WIFEXITED(status) && WEXITSTATUS(status) == 0,
      "plot_model: Graphviz's dot failed (exit status {}); install the Debian package graphviz",
      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

}  // namespace

std::string model_to_dot(const Model& model) {
  std::string dot = "digraph \"" + escape(model.name()) +
                    "\" {\n"
                    "  rankdir=TB;\n  node [shape=record, fontname=\"Helvetica\", fontsize=11];\n";
  for (const LayerPtr& layer : model.layers()) {
    const std::string shape = batch_shape_str(model.layer_output_shape(layer->name()));
    dot += "  \"" + escape(layer->name()) + "\" [label=\"{" + escape(layer->name()) + " | " +
           escape(layer->type()) + " | output: " + escape(shape) + "}\"];\n";
  }
  for (const LayerPtr& layer : model.layers()) {
    for (const std::string& source : model.inbound_layers(layer->name())) {
      dot += "  \"" + escape(source) + "\" -> \"" + escape(layer->name()) + "\";\n";
    }
  }
  return dot + "}\n";
}

void plot_model(const Model& model, const std::string& path) {
  const std::string format = format_of(path);
  const std::string dot_text = model_to_dot(model);
  write_file_atomically(path, [&](const std::string& temp_path) {
    const std::string dot_file = temp_path + ".dot";
    {
      std::ofstream out(dot_file);
      out << dot_text;
      KILN_CHECK(out.good(), "plot_model: cannot write {}", dot_file);
    }
    try {
      run_dot(format, dot_file, temp_path);
    } catch (...) {
      std::remove(dot_file.c_str());
      throw;
    }
    std::remove(dot_file.c_str());
  });
}

}  // namespace kiln
