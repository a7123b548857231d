using GpuViT.Kernels.Runtime;
using GpuViT.Models;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;

namespace GpuViT.Host;

/// <summary>
/// A command's output file, checked before any work so that a mistake in it costs nothing: the
/// path names a file (not a directory) in a directory that exists and takes a new file, and the
/// file is none of the command's inputs, compared by real path (relative paths and symbolic links
/// resolved). An existing file is replaced by a rename, which the directory allows or refuses, so
/// a file created there shows that too. A problem is a <see cref="UsageException"/> naming the
/// option and the path as the user gave it.
/// </summary>
public static class OutputPaths
{
    /// <summary>An input file or directory and what names it (an option); a null path is an option not given. A directory's images are read, with <paramref name="Recursive"/> its subdirectories' too.</summary>
    public readonly record struct Input(string Name, string? Path, bool Recursive = false);

    /// <summary>Throws a <see cref="UsageException"/> unless <paramref name="path"/>, given by <paramref name="option"/>, can be written without replacing any of <paramref name="inputs"/>; a null path (no output asked for) passes.</summary>
    public static void Check(string option, string? path, IEnumerable<Input> inputs)
    {
        if (path is null)
        {
            return;
        }

        string where = $"{option} {path}";
        string full = FullPath(path) ?? throw new UsageException($"{option}: '{path}' is not a file name");
        if (Directory.Exists(full))
        {
            throw new UsageException($"{where}: is a directory; name a file in it");
        }

        string directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            string given = Path.GetDirectoryName(path) is { Length: > 0 } part ? part : ".";
            throw new UsageException(File.Exists(directory) ? $"{where}: {given} is a file, not a directory" : $"{where}: no directory {given}");
        }

        string real = RealPath(full);

        // An existing device, FIFO or socket is never replaced: the rename would put a regular file
        // in its place (as root, /dev/null itself).
        if (RegularFile.IsSpecial(real))
        {
            throw new UsageException($"{where}: {RegularFile.Problem(real)}; outputs are written as new regular files");
        }

        foreach (Input input in inputs)
        {
            if (input.Path is null || FullPath(input.Path) is not { } inputFull)
            {
                continue; // an input that names no file is reported by its own check
            }

            string inputReal = RealPath(inputFull);
            if (real == inputReal || ReadFromDirectory(real, inputReal, input.Recursive))
            {
                throw new UsageException($"{where}: would replace the input {input.Path} ({input.Name})");
            }
        }

        try
        {
            // Created and removed at once: the directory takes a new file.
            using AtomicFile probe = AtomicFile.Create(path);
        }
        catch (OutputFileException e)
        {
            throw new UsageException($"{where}: cannot write: {e.Reason}");
        }
    }

    /// <summary>The weights and the config that may be read with them: --config, or else the config.json beside the weights (VitWeightFiles.Load reads it when there is one).</summary>
    public static IEnumerable<Input> ModelFiles(string? weights, string? config)
    {
        yield return new Input("--weights", weights);
        if (config is not null || weights is null || FullPath(weights) is not { } full)
        {
            yield return new Input("--config", config);
        }
        else
        {
            yield return new Input("the config.json beside --weights", VitWeightFiles.BesideConfigPath(full));
        }
    }

    /// <summary>Whether <paramref name="file"/> exists in <paramref name="directory"/> (directly, or at any depth when <paramref name="recursive"/>) as an image that listing it reads.</summary>
    private static bool ReadFromDirectory(string file, string directory, bool recursive) =>
        Directory.Exists(directory)
        && (recursive ? file.StartsWith(Path.TrimEndingDirectorySeparator(directory) + "/", StringComparison.Ordinal) : Path.GetDirectoryName(file) == directory)
        && ImageDecoder.Extensions.Contains(Path.GetExtension(file)) && File.Exists(file);

    private static string? FullPath(string path)
    {
        try
        {
            return path.Length > 0 ? Path.GetFullPath(path) : null;
        }
        catch (ArgumentException)
        {
            return null; // a NUL in the name
        }
    }

    /// <summary>
    /// The absolute path with every symbolic link on the way resolved, as far as they resolve;
    /// links that lead back into themselves stop after as many as Linux follows.
    /// </summary>
    private static string RealPath(string full, int links = 0)
    {
        string? parent = Path.GetDirectoryName(full);
        string path = parent is null ? full : Path.Combine(RealPath(parent, links), Path.GetFileName(full));
        try
        {
            return links < MaxLinks && File.ResolveLinkTarget(path, returnFinalTarget: true) is { } target ? RealPath(target.FullName, links + 1) : path;
        }
        catch (IOException)
        {
            return path; // missing, or a loop of links: nothing further to resolve
        }
    }

    private const int MaxLinks = 40;
}
