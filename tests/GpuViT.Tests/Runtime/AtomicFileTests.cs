using System.Text;

namespace GpuViT.Tests.Runtime;

/// <summary>A file written whole or not at all, whose failures name the target as given, never the hidden temporary file.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-atomic-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Committed_it_replaces_the_target_and_leaves_no_temporary_file()
    {
        string path = _temp.PathOf("out.txt");
        File.WriteAllText(path, "old");

        AtomicFile.WriteAllText(path, "new");

        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void Abandoned_it_leaves_the_target_as_it_was()
    {
        string path = _temp.PathOf("out.txt");
        File.WriteAllText(path, "old");

        using (AtomicFile file = AtomicFile.Create(path))
        {
            file.Stream.Write(Encoding.ASCII.GetBytes("half"));
        }

        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void In_a_missing_directory_the_error_names_the_target()
    {
        string path = _temp.PathOf("nodir/out.txt");

        var e = Assert.Throws<OutputFileException>(() => AtomicFile.Create(path));

        Assert.Equal($"{path}: cannot write: no such directory", e.Message);
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void A_directory_removed_before_the_commit_is_named_by_the_target()
    {
        string directory = _temp.PathOf("out");
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "out.txt");
        using AtomicFile file = AtomicFile.Create(path);
        file.Stream.Write(Encoding.ASCII.GetBytes("content"));
        Directory.Delete(directory, recursive: true);

        var e = Assert.Throws<OutputFileException>(file.Commit);

        Assert.StartsWith($"{path}: cannot write: ", e.Message);
        Assert.DoesNotContain(".tmp", e.Message);
    }

    [Fact]
    public void A_target_that_is_a_directory_fails_at_the_commit_naming_it_and_the_directory_stays()
    {
        string path = _temp.PathOf("taken");
        Directory.CreateDirectory(path);
        using AtomicFile file = AtomicFile.Create(path);

        var e = Assert.Throws<OutputFileException>(file.Commit);

        Assert.Equal($"{path}: cannot write: Is a directory", e.Message);
        Assert.True(Directory.Exists(path));
    }
}
