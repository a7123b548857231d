using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// Translates the body of one kernel or device function into one C dialect, statement by
/// statement, keeping the C# names. Whatever it does not know is a GV diagnostic: the language
/// is an allow-list, so nothing unsupported can slip through into the C source.
/// </summary>
internal sealed partial class FunctionTranslator
{
    private readonly SemanticModel _model;
    private readonly Dialect _dialect;
    private readonly bool _isKernel;
    private readonly List<DiagnosticInfo> _diagnostics;
    private readonly StringBuilder _text = new();
    private int _indent = 1;

    public FunctionTranslator(SemanticModel model, Dialect dialect, bool isKernel, List<DiagnosticInfo> diagnostics)
    {
        _model = model;
        _dialect = dialect;
        _isKernel = isKernel;
        _diagnostics = diagnostics;
    }

    /// <summary>Group-shared arrays of a kernel (kernel-language element type, C name, length), hoisted to the top of its C body.</summary>
    public List<(string Element, string Name, int Length)> Shared { get; } = new();

    /// <summary>Device functions called, with the first call site of each.</summary>
    public List<(IMethodSymbol Method, Location Site)> Calls { get; } = new();

    public bool UsesBarrier { get; private set; }

    public bool UsesFloatAtomicGlobal { get; private set; }

    public bool UsesFloatAtomicShared { get; private set; }

    /// <summary>The intrinsics called (rows with preludes, scratch or a capability need are looked up here).</summary>
    public List<Intrinsic> CalledIntrinsics { get; } = new();

    /// <summary>Marks where a device-function call takes the hidden OpenCL scratch argument: no other argument, or after others.</summary>
    public const string ScratchArgumentOnly = "\u0001";

    /// <summary>See <see cref="ScratchArgumentOnly"/>.</summary>
    public const string ScratchArgumentAfter = "\u0002";

    /// <summary>The translated body: the statements inside the function's braces.</summary>
    public string Body => _text.ToString();

    public void TranslateBody(BaseMethodDeclarationSyntax method)
    {
        if (method.ExpressionBody is { } arrow)
        {
            bool returnsValue = _model.GetDeclaredSymbol(method) is IMethodSymbol { ReturnsVoid: false };
            Line((returnsValue ? "return " : string.Empty) + Expression(arrow.Expression) + ";");
            return;
        }

        if (method.Body is null)
        {
            return;
        }

        foreach (StatementSyntax statement in method.Body.Statements)
        {
            if (_isKernel && TrySharedDeclaration(statement))
            {
                continue;
            }

            Statement(statement);
        }
    }

    // ---- statements -------------------------------------------------------------------------

    private bool TrySharedDeclaration(StatementSyntax statement)
    {
        if (statement is not LocalDeclarationStatementSyntax declaration
            || declaration.Declaration.Variables.Count != 1
            || declaration.Declaration.Variables[0].Initializer?.Value is not InvocationExpressionSyntax call
            || !IsGroupMethod(call, "Shared"))
        {
            return false;
        }

        VariableDeclaratorSyntax variable = declaration.Declaration.Variables[0];
        var method = (IMethodSymbol)_model.GetSymbolInfo(call).Symbol!;
        if (IntrinsicOrReport(method, call) is null)
        {
            return true;
        }

        string? element = KernelTypes.Scalar(method.TypeArguments[0]) ?? KernelTypes.Storage16(method.TypeArguments[0]);
        if (element is null && ReportSharedVector(call, method.TypeArguments[0]))
        {
            return true;
        }

        if (element is null or "bool")
        {
            Report(Diagnostics.SharedMemory, call, $"of '{method.TypeArguments[0].ToDisplayString()}' is not supported");
            return true;
        }

        Optional<object?> length = _model.GetConstantValue(call.ArgumentList.Arguments[0].Expression);
        if (!length.HasValue || length.Value is not int count || count <= 0)
        {
            Report(Diagnostics.SharedMemory, call, "needs a positive compile-time constant size, found '" + Show(call.ArgumentList.Arguments[0]) + "'");
            return true;
        }

        Shared.Add((element, KernelTypes.CName(variable.Identifier.ValueText), count));
        return true;
    }

    private void Statement(StatementSyntax statement)
    {
        LeadingTrivia(statement);
        switch (statement)
        {
            case BlockSyntax block:
                Line("{");
                _indent++;
                foreach (StatementSyntax inner in block.Statements)
                {
                    Statement(inner);
                }

                _indent--;
                Line("}");
                break;

            case LocalDeclarationStatementSyntax declaration:
                LocalDeclaration(declaration);
                break;

            case ExpressionStatementSyntax { Expression: InvocationExpressionSyntax call } when IsGroupMethod(call, "Barrier"):
                var barrier = (IMethodSymbol)_model.GetSymbolInfo(call).Symbol!;
                if (IntrinsicOrReport(barrier, call) is { } intrinsic)
                {
                    UsesBarrier = true;
                    Line(_dialect.Spelling(intrinsic) + ";");
                }

                break;

            case ExpressionStatementSyntax { Expression: InvocationExpressionSyntax call } when IsGroupCopy(call):
                GroupCopyStatement(call);
                break;

            case ExpressionStatementSyntax expression:
                Line(Expression(expression.Expression) + ";");
                break;

            case IfStatementSyntax ifStatement:
                If(ifStatement, string.Empty);
                break;

            case ForStatementSyntax forStatement:
                For(forStatement);
                break;

            case WhileStatementSyntax whileStatement:
                Line("while (" + Expression(whileStatement.Condition) + ")");
                Embedded(whileStatement.Statement);
                break;

            case DoStatementSyntax doStatement:
                Line("do");
                Embedded(doStatement.Statement);
                Line("while (" + Expression(doStatement.Condition) + ");");
                break;

            case BreakStatementSyntax:
                Line("break;");
                break;

            case ContinueStatementSyntax:
                Line("continue;");
                break;

            case ReturnStatementSyntax returnStatement:
                Line(returnStatement.Expression is null ? "return;" : "return " + Expression(returnStatement.Expression) + ";");
                break;

            case EmptyStatementSyntax:
                Line(";");
                break;

            case ThrowStatementSyntax:
                Report(Diagnostics.ExceptionUse, statement, "throw");
                break;

            case TryStatementSyntax:
                Report(Diagnostics.ExceptionUse, statement, "try");
                break;

            case LocalFunctionStatementSyntax local:
                Report(Diagnostics.LinqOrLambda, local.Identifier.GetLocation(), "local function " + local.Identifier.ValueText);
                break;

            default:
                Report(Diagnostics.UnsupportedStatement, statement, StatementWord(statement), StatementHint(statement));
                break;
        }
    }

    /// <summary>Carries a statement's blank line and line comments over, so the C reads like the C#.</summary>
    private void LeadingTrivia(StatementSyntax statement)
    {
        bool lineHasText = false;
        bool blankLine = false;
        foreach (SyntaxTrivia trivia in statement.GetLeadingTrivia())
        {
            if (trivia.IsKind(SyntaxKind.EndOfLineTrivia))
            {
                blankLine |= !lineHasText;
                lineHasText = false;
            }
            else if (trivia.IsKind(SyntaxKind.SingleLineCommentTrivia))
            {
                if (blankLine && !AtBlockStart())
                {
                    _text.Append('\n');
                }

                blankLine = false;
                lineHasText = true;
                Line(trivia.ToString().TrimEnd());
            }
            else if (!trivia.IsKind(SyntaxKind.WhitespaceTrivia))
            {
                lineHasText = true;
            }
        }

        if (blankLine && !AtBlockStart())
        {
            _text.Append('\n');
        }
    }

    private bool AtBlockStart() =>
        _text.Length == 0 || _text.ToString().TrimEnd(' ', '\n').EndsWith("{", System.StringComparison.Ordinal);

    private void LocalDeclaration(LocalDeclarationStatementSyntax declaration)
    {
        if (declaration.UsingKeyword.IsKind(SyntaxKind.UsingKeyword))
        {
            Report(Diagnostics.UnsupportedStatement, declaration, "using", string.Empty);
            return;
        }

        if (declaration.Declaration.Type is RefTypeSyntax)
        {
            Report(Diagnostics.UnsupportedStatement, declaration, "ref local", " (index the view or shared array directly)");
            return;
        }

        foreach (VariableDeclaratorSyntax variable in declaration.Declaration.Variables)
        {
            if (_model.GetDeclaredSymbol(variable) is not ILocalSymbol local)
            {
                continue;
            }

            if (variable.Initializer?.Value is StackAllocArrayCreationExpressionSyntax or ImplicitStackAllocArrayCreationExpressionSyntax)
            {
                RegisterArrayDeclaration(declaration, variable, local);
                continue;
            }

            if (variable.Initializer?.Value is InvocationExpressionSyntax call && IsGroupMethod(call, "Shared"))
            {
                Report(Diagnostics.SharedMemory, call, _isKernel ? "must stand at the top level of the kernel body, not inside a block" : "can only be used in a kernel, not in a device function (pass the SharedArray as a parameter)");
                continue;
            }

            // The initializer first: 'new float[4]' is an allocation before it is a float[].
            int before = _diagnostics.Count;
            string? value = variable.Initializer is { } initializer ? Expression(initializer.Value) : null;
            if (_diagnostics.Count != before || LocalType(local.Type, variable) is not { } type)
            {
                continue;
            }

            string text = (declaration.IsConst ? "const " : string.Empty) + type + " " + KernelTypes.CName(local.Name);
            Line(text + (value is null ? string.Empty : " = " + value) + ";");
        }
    }

    private string? LocalType(ITypeSymbol type, SyntaxNode site)
    {
        if (KernelTypes.Scalar(type) is { } scalar)
        {
            return _dialect.Scalar(scalar);
        }

        if (KernelTypes.View(type) is { } view)
        {
            return _dialect.Pointer(_dialect.Scalar(view.Element), view.Kind == "ReadOnlyView", view.Kind == "SharedArray");
        }

        if (KernelTypes.RegisterArray(type) is not null)
        {
            Report(Diagnostics.RegisterArray, site, "'" + Show(site) + "' must be declared with its own stackalloc");
            return null;
        }

        if (KernelTypes.Vector(type) is { } vector)
        {
            return vector;
        }

        ReportType(type, site);
        return null;
    }

    private void If(IfStatementSyntax statement, string prefix)
    {
        Line(prefix + "if (" + Expression(statement.Condition) + ")");
        Embedded(statement.Statement);
        if (statement.Else is null)
        {
            return;
        }

        if (statement.Else.Statement is IfStatementSyntax elseIf)
        {
            If(elseIf, "else ");
        }
        else
        {
            Line("else");
            Embedded(statement.Else.Statement);
        }
    }

    private void For(ForStatementSyntax statement)
    {
        string initializer = string.Empty;
        if (statement.Declaration is { } declaration)
        {
            var parts = new List<string>();
            string? type = null;
            foreach (VariableDeclaratorSyntax variable in declaration.Variables)
            {
                if (_model.GetDeclaredSymbol(variable) is ILocalSymbol local)
                {
                    type ??= LocalType(local.Type, variable);
                    parts.Add(KernelTypes.CName(local.Name) + (variable.Initializer is { } init ? " = " + Expression(init.Value) : string.Empty));
                }
            }

            initializer = (type ?? "int") + " " + string.Join(", ", parts);
        }
        else
        {
            initializer = string.Join(", ", statement.Initializers.Select(Expression));
        }

        string condition = statement.Condition is null ? string.Empty : Expression(statement.Condition);
        string step = string.Join(", ", statement.Incrementors.Select(Expression));
        if (ShouldUnroll(statement))
        {
            Line("#pragma unroll");
        }

        Line("for (" + initializer + "; " + condition + "; " + step + ")");
        Embedded(statement.Statement);
    }

    /// <summary>The body of an if/for/while/do: always braced, so the C reads like the C#.</summary>
    private void Embedded(StatementSyntax statement)
    {
        if (statement is BlockSyntax)
        {
            Statement(statement);
            return;
        }

        Line("{");
        _indent++;
        Statement(statement);
        _indent--;
        Line("}");
    }

    // ---- expressions ------------------------------------------------------------------------

    /// <summary>Translates an expression; reports at most one diagnostic for the innermost fault.</summary>
    private string Expression(ExpressionSyntax expression)
    {
        if (Storage16Access(expression) is { } storage16)
        {
            return storage16;
        }

        int before = _diagnostics.Count;
        string text = ExpressionCore(expression);
        if (_diagnostics.Count == before)
        {
            CheckType(expression);
        }

        return text;
    }

    private string ExpressionCore(ExpressionSyntax expression)
    {
        switch (expression)
        {
            case LiteralExpressionSyntax literal:
                return Literal(literal);

            case ParenthesizedExpressionSyntax parenthesized:
                return "(" + Expression(parenthesized.Expression) + ")";

            case IdentifierNameSyntax identifier:
                return Identifier(identifier);

            case MemberAccessExpressionSyntax member:
                return MemberAccess(member);

            case InvocationExpressionSyntax call:
                return Invocation(call);

            case ElementAccessExpressionSyntax element:
                return ElementAccess(element);

            case BinaryExpressionSyntax binary:
                return Binary(binary);

            case PrefixUnaryExpressionSyntax prefix when prefix.Kind() is SyntaxKind.UnaryPlusExpression or SyntaxKind.UnaryMinusExpression
                or SyntaxKind.LogicalNotExpression or SyntaxKind.BitwiseNotExpression
                or SyntaxKind.PreIncrementExpression or SyntaxKind.PreDecrementExpression:
                return prefix.OperatorToken.Text + Expression(prefix.Operand);

            case PostfixUnaryExpressionSyntax postfix when postfix.Kind() is SyntaxKind.PostIncrementExpression or SyntaxKind.PostDecrementExpression:
                return Expression(postfix.Operand) + postfix.OperatorToken.Text;

            case AssignmentExpressionSyntax assignment:
                return Assignment(assignment);

            case ConditionalExpressionSyntax conditional:
                return Conditional(conditional);

            case CastExpressionSyntax cast:
                return Cast(cast);

            case BaseObjectCreationExpressionSyntax creation when KernelTypes.Vector(_model.GetTypeInfo(creation).Type) is { } vector:
                return VectorCreation(creation, vector);

            case ObjectCreationExpressionSyntax or ImplicitObjectCreationExpressionSyntax or ArrayCreationExpressionSyntax
                or ImplicitArrayCreationExpressionSyntax or StackAllocArrayCreationExpressionSyntax
                or ImplicitStackAllocArrayCreationExpressionSyntax or AnonymousObjectCreationExpressionSyntax
                or CollectionExpressionSyntax or InitializerExpressionSyntax:
                return Fail(Diagnostics.Allocation, expression, Show(expression));

            case InterpolatedStringExpressionSyntax:
                return Fail(Diagnostics.StringUse, expression, Show(expression));

            case ThrowExpressionSyntax:
                return Fail(Diagnostics.ExceptionUse, expression, "throw");

            case AnonymousFunctionExpressionSyntax or QueryExpressionSyntax:
                return Fail(Diagnostics.LinqOrLambda, expression, Show(expression));

            case ThisExpressionSyntax or BaseExpressionSyntax:
                return Fail(Diagnostics.InstanceMember, expression, Show(expression));

            default:
                return Fail(Diagnostics.UnsupportedExpression, expression, Show(expression), ExpressionHint(expression));
        }
    }

    private string Literal(LiteralExpressionSyntax literal)
    {
        switch (literal.Kind())
        {
            case SyntaxKind.TrueLiteralExpression:
                return "true";
            case SyntaxKind.FalseLiteralExpression:
                return "false";
            case SyntaxKind.StringLiteralExpression or SyntaxKind.Utf8StringLiteralExpression:
                return Fail(Diagnostics.StringUse, literal, Show(literal));
            case SyntaxKind.NumericLiteralExpression:
                return Constant(_model.GetConstantValue(literal).Value, _model.GetTypeInfo(literal).Type, literal, null);
            default:
                return Fail(Diagnostics.UnsupportedExpression, literal, Show(literal), string.Empty);
        }
    }

    /// <summary>A compile-time constant as a C literal; named constants keep their name in a comment.</summary>
    private string Constant(object? value, ITypeSymbol? type, SyntaxNode site, string? name)
    {
        string comment = name is null ? string.Empty : " /* " + name + " */";
        switch (value)
        {
            case float f:
                return _dialect.FloatLiteral(f) + comment;
            case int i:
                return (i == int.MinValue ? "(-2147483647 - 1)" : i.ToString(CultureInfo.InvariantCulture)) + comment;
            case uint u:
                return u.ToString(CultureInfo.InvariantCulture) + "u" + comment;
            case bool b:
                return (b ? "true" : "false") + comment;
            case string:
                return Fail(Diagnostics.StringUse, site, Show(site));
            default:
                ReportType(type, site);
                return "/* error */";
        }
    }

    private string Identifier(IdentifierNameSyntax identifier)
    {
        ISymbol? symbol = _model.GetSymbolInfo(identifier).Symbol;
        switch (symbol)
        {
            case ILocalSymbol local:
                return KernelTypes.CName(local.Name);
            case IParameterSymbol parameter when KernelTypes.IsKernelThread(parameter.Type):
                return Fail(Diagnostics.ThreadUse, identifier, Show(identifier.Parent ?? identifier));
            case IParameterSymbol parameter:
                return KernelTypes.CName(parameter.Name);
            case IFieldSymbol { IsConst: true } constant:
                return Constant(constant.ConstantValue, constant.Type, identifier, constant.Name);
            case IFieldSymbol { IsStatic: true } field:
                return Fail(Diagnostics.CapturedState, identifier, field.Name, "static field");
            case IPropertySymbol { IsStatic: true } property:
                return Fail(Diagnostics.CapturedState, identifier, property.Name, "static property");
            case IFieldSymbol or IPropertySymbol or IEventSymbol:
                return Fail(Diagnostics.InstanceMember, identifier, identifier.Identifier.ValueText);
            case IMethodSymbol:
                return Fail(Diagnostics.LinqOrLambda, identifier, "method group " + identifier.Identifier.ValueText);
            default:
                return Fail(Diagnostics.UnsupportedExpression, identifier, Show(identifier), string.Empty);
        }
    }

    private string MemberAccess(MemberAccessExpressionSyntax member)
    {
        // thread.Global.X and friends: the only way to read a KernelThread.
        if (member.Expression is MemberAccessExpressionSyntax inner
            && KernelTypes.IsKernelThread(_model.GetTypeInfo(inner.Expression).Type)
            && KernelTypes.IsInt3(_model.GetTypeInfo(inner).Type)
            && member.Name.Identifier.ValueText is "X" or "Y" or "Z"
            && inner.Expression is IdentifierNameSyntax)
        {
            int dimension = member.Name.Identifier.ValueText[0] - 'X';
            ISymbol index = _model.GetSymbolInfo(inner).Symbol!;
            return IntrinsicOrReport(index, inner) is { } intrinsic ? _dialect.ThreadIndex(intrinsic, dimension) : Error;
        }

        if (VectorMember(member) is { } component)
        {
            return component;
        }

        if (ThreadScalar(member) is { } threadScalar)
        {
            return threadScalar;
        }

        ISymbol? symbol = _model.GetSymbolInfo(member).Symbol;
        ITypeSymbol? receiver = _model.GetTypeInfo(member.Expression).Type;
        if (KernelTypes.RegisterArray(receiver) is not null)
        {
            return Fail(Diagnostics.RegisterArray, member, "'" + Show(member) + "' is not supported");
        }

        switch (symbol)
        {
            case IPropertySymbol property when KernelTypes.IsKernelThread(receiver) && IntrinsicOrReport(property, member) is null:
                return Error;
            case IFieldSymbol { IsConst: true } constant:
                return Constant(constant.ConstantValue, constant.Type, member,
                    constant.ContainingType.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat) + "." + constant.Name);
            case IPropertySymbol when KernelTypes.IsKernelThread(receiver) || KernelTypes.IsInt3(receiver):
                return Fail(Diagnostics.ThreadUse, member, Show(member));
            case IPropertySymbol { Name: "Length" } when KernelTypes.View(receiver) is not null:
                return Fail(Diagnostics.UnsupportedCall, member, Show(member), " (pass lengths as int parameters)");
            case IFieldSymbol { IsStatic: true } field:
                return Fail(Diagnostics.CapturedState, member, Show(member), "static field");
            case IPropertySymbol { IsStatic: true }:
                return Fail(Diagnostics.CapturedState, member, Show(member), "static property");
            case IFieldSymbol or IPropertySymbol or IEventSymbol:
                return Fail(Diagnostics.InstanceMember, member, Show(member));
            case IMethodSymbol:
                return Fail(Diagnostics.LinqOrLambda, member, "method group " + Show(member));
            default:
                return Fail(Diagnostics.UnsupportedExpression, member, Show(member), string.Empty);
        }
    }

    private string Invocation(InvocationExpressionSyntax call)
    {
        if (_model.GetSymbolInfo(call).Symbol is not IMethodSymbol method)
        {
            return Fail(Diagnostics.UnsupportedCall, call.Expression, Show(call.Expression), string.Empty);
        }

        if (KernelTypes.RegisterArray(method.ContainingType) is not null)
        {
            return Fail(Diagnostics.RegisterArray, call, "'" + Show(call) + "' is not supported");
        }

        Intrinsic? intrinsic = null;
        if (Intrinsics.IsIntrinsicMember(method) && (intrinsic = IntrinsicOrReport(method, call.Expression)) is null)
        {
            return Error;
        }

        if (intrinsic is { Class: "Atomic" })
        {
            return Atomic(call, intrinsic);
        }

        foreach (ArgumentSyntax argument in call.ArgumentList.Arguments)
        {
            if (!argument.RefKindKeyword.IsKind(SyntaxKind.None))
            {
                return Fail(Diagnostics.UnsupportedExpression, argument, Show(argument), " (ref, out and in arguments are for Atomic.Add only)");
            }

            if (argument.NameColon is not null)
            {
                return Fail(Diagnostics.UnsupportedExpression, argument, Show(argument), " (pass arguments by position)");
            }
        }

        if (VectorCall(call, method) is { } vectorAccess)
        {
            return vectorAccess;
        }

        if (intrinsic is { Class: "Mma" } && !MmaFragmentsAreRegisterArrays(call, method))
        {
            return Error;
        }

        if (intrinsic is not null && intrinsic.Class is not ("Group" or "KernelThread"))
        {
            return IntrinsicCall(intrinsic, call);
        }

        if (intrinsic is { Class: "Group" })
        {
            return method.Name == "Barrier"
                ? Fail(Diagnostics.Barrier, call, Show(call.Parent ?? call))
                : IsGroupCopy(call) ? Fail(Diagnostics.GroupCopy, call, Show(call), "is inside an expression")
                : Fail(Diagnostics.SharedMemory, call, "must initialise a local at the top level of a kernel body");
        }

        if (KernelTypes.HasAttribute(method, KernelTypes.DeviceFunctionAttribute))
        {
            if (!method.IsStatic)
            {
                return Fail(Diagnostics.InstanceMember, call.Expression, Show(call.Expression));
            }

            IMethodSymbol definition = method.OriginalDefinition;
            if (!Calls.Any(c => SymbolEqualityComparer.Default.Equals(c.Method, definition)))
            {
                Calls.Add((definition, call.GetLocation()));
            }

            // The hidden OpenCL scratch argument goes where the marker is, if the kernel needs one.
            string arguments = Arguments(call);
            return KernelTypes.CName(method.Name) + "(" + arguments + (arguments.Length == 0 ? ScratchArgumentOnly : ScratchArgumentAfter) + ")";
        }

        if (KernelTypes.HasAttribute(method, KernelTypes.KernelAttribute))
        {
            return Fail(Diagnostics.UnsupportedCall, call.Expression, Show(call.Expression), " (a kernel cannot call a kernel; move the shared code into a [DeviceFunction])");
        }

        string container = method.ContainingType?.ToDisplayString() ?? string.Empty;
        if (container.StartsWith("System.Linq", System.StringComparison.Ordinal))
        {
            return Fail(Diagnostics.LinqOrLambda, call, Show(call.Expression));
        }

        if (!method.IsStatic)
        {
            return Fail(Diagnostics.InstanceMember, call.Expression, Show(call.Expression));
        }

        return Fail(Diagnostics.UnsupportedCall, call.Expression, Show(call.Expression), CallHint(container, method.Name));
    }

    /// <summary>A call of an intrinsic function: its spelling with the arguments, filled into its template if it has one.</summary>
    private string IntrinsicCall(Intrinsic intrinsic, InvocationExpressionSyntax call)
    {
        if (!CalledIntrinsics.Contains(intrinsic))
        {
            CalledIntrinsics.Add(intrinsic);
        }

        UsesBarrier |= intrinsic.Collective;
        string spelling = _dialect.Spelling(intrinsic).Replace(Intrinsics.Scratch, Intrinsics.ScratchName);
        string arguments = Arguments(call);
        return spelling.Contains(Intrinsics.Arguments) ? spelling.Replace(Intrinsics.Arguments, arguments) : spelling + "(" + arguments + ")";
    }

    private string Arguments(InvocationExpressionSyntax call) =>
        string.Join(", ", call.ArgumentList.Arguments.Select(a => Expression(a.Expression)));

    private string Atomic(InvocationExpressionSyntax call, Intrinsic atomic)
    {
        ArgumentSyntax target = call.ArgumentList.Arguments[0];
        if (target.Expression is not ElementAccessExpressionSyntax element
            || KernelTypes.View(_model.GetTypeInfo(element.Expression).Type) is not { } view
            || view.Kind == "ReadOnlyView")
        {
            return Fail(Diagnostics.AtomicTarget, target, Show(target));
        }

        bool shared = view.Kind == "SharedArray";
        if (atomic == Intrinsics.FloatAtomicAdd)
        {
            UsesFloatAtomicGlobal |= !shared;
            UsesFloatAtomicShared |= shared;
        }

        string address = "&" + ElementAccess(element);
        return _dialect.Atomic(atomic, shared, address, Expression(call.ArgumentList.Arguments[1].Expression));
    }

    private string ElementAccess(ElementAccessExpressionSyntax element)
    {
        ITypeSymbol? receiver = _model.GetTypeInfo(element.Expression).Type;
        if (KernelTypes.View(receiver) is null && KernelTypes.RegisterArray(receiver) is null)
        {
            // Reports what the receiver is: a static array (captured state), an array type, ...
            return Expression(element.Expression) + "[/* error */]";
        }

        if (Storage16Element(element) is not null)
        {
            return Fail(Diagnostics.Storage16, element, Show(element), "reads or writes a 16-bit element outside the two storage forms");
        }

        return SingleIndex(element) is { } index ? Expression(element.Expression) + "[" + index + "]" : Error;
    }

    /// <summary>The one int or uint index of an element access, or null after reporting any other (ranges, ^i, several).</summary>
    private string? SingleIndex(ElementAccessExpressionSyntax element)
    {
        if (element.ArgumentList.Arguments.Count != 1
            || element.ArgumentList.Arguments[0].Expression is RangeExpressionSyntax or PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.IndexExpression })
        {
            Report(Diagnostics.UnsupportedExpression, element, Show(element), " (index with one int or uint)");
            return null;
        }

        return Expression(element.ArgumentList.Arguments[0].Expression);
    }

    private string Binary(BinaryExpressionSyntax binary)
    {
        switch (binary.Kind())
        {
            case SyntaxKind.AddExpression or SyntaxKind.SubtractExpression or SyntaxKind.MultiplyExpression
                or SyntaxKind.DivideExpression or SyntaxKind.ModuloExpression or SyntaxKind.LeftShiftExpression
                or SyntaxKind.RightShiftExpression or SyntaxKind.LogicalAndExpression or SyntaxKind.LogicalOrExpression
                or SyntaxKind.BitwiseAndExpression or SyntaxKind.BitwiseOrExpression or SyntaxKind.ExclusiveOrExpression
                or SyntaxKind.EqualsExpression or SyntaxKind.NotEqualsExpression or SyntaxKind.LessThanExpression
                or SyntaxKind.LessThanOrEqualExpression or SyntaxKind.GreaterThanExpression
                or SyntaxKind.GreaterThanOrEqualExpression:
                break;
            default:
                return Fail(Diagnostics.UnsupportedExpression, binary, binary.OperatorToken.Text, ExpressionHint(binary));
        }

        if (ShortCircuitWarpOperation(binary) is { } fault)
        {
            return fault;
        }

        // C# widens both operands (int with uint to long, float with double to double) before the
        // operator: report the operation once, not each operand.
        ITypeSymbol? operands = _model.GetTypeInfo(binary.Left).ConvertedType;
        if (operands is not null && KernelTypes.Scalar(operands) is null && KernelTypes.View(operands) is null)
        {
            ReportType(operands, binary);
            return "/* error */";
        }

        if (_model.GetSymbolInfo(binary).Symbol is IMethodSymbol { MethodKind: MethodKind.UserDefinedOperator })
        {
            return Fail(Diagnostics.UnsupportedCall, binary, "operator " + binary.OperatorToken.Text, " (user-defined operators are not supported)");
        }

        string left = Expression(binary.Left);
        string right = Expression(binary.Right);
        if (binary.IsKind(SyntaxKind.ModuloExpression) && KernelTypes.Scalar(_model.GetTypeInfo(binary).Type) == "float")
        {
            return _dialect.FloatRemainder + "(" + left + ", " + right + ")";
        }

        return left + " " + binary.OperatorToken.Text + " " + right;
    }

    private string Assignment(AssignmentExpressionSyntax assignment)
    {
        if (assignment.IsKind(SyntaxKind.CoalesceAssignmentExpression) || assignment.IsKind(SyntaxKind.UnsignedRightShiftAssignmentExpression))
        {
            return Fail(Diagnostics.UnsupportedExpression, assignment, assignment.OperatorToken.Text, string.Empty);
        }

        if (assignment.Left is IdentifierNameSyntax && KernelTypes.RegisterArray(_model.GetTypeInfo(assignment.Left).Type) is not null)
        {
            return Fail(Diagnostics.RegisterArray, assignment, "'" + Show(assignment.Left) + "' cannot be assigned; assign its elements");
        }

        if (assignment.Left is not (IdentifierNameSyntax or ElementAccessExpressionSyntax))
        {
            return Fail(Diagnostics.UnsupportedExpression, assignment.Left, Show(assignment.Left), " (assign to a local, a parameter or a view element)");
        }

        string left = Expression(assignment.Left);
        string right = Expression(assignment.Right);
        if (assignment.IsKind(SyntaxKind.ModuloAssignmentExpression) && KernelTypes.Scalar(_model.GetTypeInfo(assignment.Left).Type) == "float")
        {
            return left + " = " + _dialect.FloatRemainder + "(" + left + ", " + right + ")";
        }

        return left + " " + assignment.OperatorToken.Text + " " + right;
    }

    private string Cast(CastExpressionSyntax cast)
    {
        ITypeSymbol? type = _model.GetTypeInfo(cast.Type).Type;
        string? scalar = KernelTypes.Scalar(type);
        if (scalar is null)
        {
            ReportType(type, cast.Type);
            return "/* error */";
        }

        return "(" + _dialect.Scalar(scalar) + ")" + Expression(cast.Expression);
    }

    /// <summary>Every value in a kernel must be one of the supported types, before and after conversion.</summary>
    private void CheckType(ExpressionSyntax expression)
    {
        TypeInfo info = _model.GetTypeInfo(expression);
        foreach (ITypeSymbol? type in new[] { info.Type, info.ConvertedType })
        {
            if (type is null || type.SpecialType == SpecialType.System_Void || KernelTypes.Scalar(type) is not null
                || KernelTypes.View(type) is not null || KernelTypes.RegisterArray(type) is not null
                || KernelTypes.Vector(type) is not null)
            {
                continue;
            }

            ReportType(type, expression);
            return;
        }
    }

    private void ReportType(ITypeSymbol? type, SyntaxNode site)
    {
        if (type?.SpecialType == SpecialType.System_String)
        {
            Report(Diagnostics.StringUse, site, Show(site));
            return;
        }

        if (KernelTypes.IsKernelThread(type) || KernelTypes.IsInt3(type))
        {
            Report(Diagnostics.ThreadUse, site, Show(site));
            return;
        }

        if (KernelTypes.Storage16(type) is not null)
        {
            Report(Diagnostics.Storage16, site, Show(site), "is a 16-bit value (" + type!.Name + "), which kernels do not compute on");
            return;
        }

        string hint = type?.SpecialType switch
        {
            SpecialType.System_Double => " (write float literals with an f suffix, as in 0.5f, and use KernelMath instead of Math)",
            SpecialType.System_Int64 or SpecialType.System_UInt64 => " (in C#, mixing int and uint gives long: cast one side)",
            _ => string.Empty,
        };
        Report(Diagnostics.UnsupportedType, site, type?.ToDisplayString() ?? "?", hint);
    }

    // ---- helpers ----------------------------------------------------------------------------

    private bool IsGroupMethod(InvocationExpressionSyntax call, string name) =>
        _model.GetSymbolInfo(call).Symbol is IMethodSymbol method
        && method.Name == name
        && method.ContainingType?.ToDisplayString() == KernelTypes.Namespace + ".Group";

    private void Line(string text) => _text.Append(' ', _indent * 4).Append(text).Append('\n');

    /// <summary>What an expression translates to once its diagnostic is reported; the build fails, so it is never compiled.</summary>
    private const string Error = "/* error */";

    private string Fail(DiagnosticDescriptor descriptor, SyntaxNode site, params string[] arguments)
    {
        Report(descriptor, site, arguments);
        return Error;
    }

    /// <summary>The intrinsic table's entry for member, or null after reporting GV0021 at site.</summary>
    private Intrinsic? IntrinsicOrReport(ISymbol member, SyntaxNode site)
    {
        Intrinsic? intrinsic = Intrinsics.Find(member);
        if (intrinsic is null)
        {
            Report(Diagnostics.UnmappedIntrinsic, site, Intrinsics.Name(member));
        }

        return intrinsic;
    }

    private void Report(DiagnosticDescriptor descriptor, SyntaxNode site, params string[] arguments) =>
        Report(descriptor, site.GetLocation(), arguments);

    private void Report(DiagnosticDescriptor descriptor, Location location, params string[] arguments) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments));

    /// <summary>Source text for a message: one line, at most 60 characters.</summary>
    public static string Show(SyntaxNode node)
    {
        string text = string.Join(" ", node.ToString().Split(new[] { '\r', '\n' }, System.StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
        return text.Length <= 60 ? text : text.Substring(0, 57) + "...";
    }

    private static string StatementWord(StatementSyntax statement) => statement switch
    {
        SwitchStatementSyntax => "switch",
        CommonForEachStatementSyntax => "foreach",
        GotoStatementSyntax => "goto",
        LabeledStatementSyntax => "labeled",
        LockStatementSyntax => "lock",
        UsingStatementSyntax => "using",
        YieldStatementSyntax => "yield",
        FixedStatementSyntax => "fixed",
        UnsafeStatementSyntax => "unsafe",
        CheckedStatementSyntax => "checked",
        _ => statement.Kind().ToString(),
    };

    private static string StatementHint(StatementSyntax statement) => statement switch
    {
        SwitchStatementSyntax => " (use if/else)",
        CommonForEachStatementSyntax => " (use a for loop over an index)",
        GotoStatementSyntax or LabeledStatementSyntax => " (use break, continue or return)",
        _ => string.Empty,
    };

    private static string ExpressionHint(ExpressionSyntax expression) => expression.Kind() switch
    {
        SyntaxKind.CoalesceExpression or SyntaxKind.NullLiteralExpression or SyntaxKind.SuppressNullableWarningExpression
            => " (kernels have no null)",
        SyntaxKind.IsExpression or SyntaxKind.AsExpression or SyntaxKind.IsPatternExpression or SyntaxKind.SwitchExpression
            => " (use comparisons and ?: instead of patterns)",
        SyntaxKind.UnsignedRightShiftExpression => " (shift a uint with >> instead)",
        SyntaxKind.CheckedExpression or SyntaxKind.UncheckedExpression => " (arithmetic in kernels wraps, as on the GPU)",
        SyntaxKind.TupleExpression => " (use separate locals)",
        SyntaxKind.DefaultExpression or SyntaxKind.DefaultLiteralExpression => " (write the value, e.g. 0 or 0f)",
        _ => string.Empty,
    };

    private static string CallHint(string container, string name)
    {
        if (container is "System.MathF" or "System.Math")
        {
            string? replacement = name switch
            {
                "FusedMultiplyAdd" => "Fma",
                "ReciprocalSqrtEstimate" => "Rsqrt",
                _ when Intrinsics.All.Any(i => i.Class == "KernelMath" && i.Member.StartsWith(name + "(", System.StringComparison.Ordinal)) => name,
                _ => null,
            };
            return replacement is null ? " (KernelMath has the supported math)" : " (use KernelMath." + replacement + ")";
        }

        return string.Empty;
    }
}
