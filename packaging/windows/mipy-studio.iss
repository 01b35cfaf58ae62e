; Inno Setup script for the Windows installer of MiPy Studio.
;
; Build (on Windows, after the PyInstaller bundle exists in dist\mipy-studio\):
;     pyinstaller --noconfirm --clean build_installer.spec
;     iscc /DAppVersion=0.1.0 packaging\windows\mipy-studio.iss
; Output: dist\mipy-studio-<version>-windows-x64-setup.exe
; The release workflow (.github/workflows/release.yml) does both on a windows runner.
;
; Installs per user by default (no administrator rights needed; the dialog offers "for all users").
; Uninstalling removes everything it installed; settings in %APPDATA% and the user's projects stay.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "MiPy Studio"
#define AppExe "MiPy Studio.exe"
; The console build, on PATH: `mipy-studio ports` in a terminal (the windowed AppExe has no stdout).
#define CliExe "mipy-studio.exe"

[Setup]
AppId={{6F2B8E4A-5C1D-4B7E-9A0F-3D2C1B4E5F60}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=MiPy Studio
DefaultDirName={autopf}\MiPy Studio
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=mipy-studio-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\mipy-studio.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes
InfoAfterFile=drivers.txt

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the mipy-studio command to PATH"; GroupDescription: "Command line:"

[Files]
Source: "..\..\dist\mipy-studio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "drivers.txt"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\USB driver help (CP210x, CH340)"; Filename: "{app}\drivers.txt"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; Per-user PATH entry for {#CliExe} (removed again on uninstall).
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; \
    Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Nothing is written into {app} at run time; should Python ever write bytecode caches there, they go too.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Current: string;
begin
  if not RegQueryStringValue(HKCU, 'Environment', 'Path', Current) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Current) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Current, Dir: string;
  P: Integer;
begin
  if CurUninstallStep = usPostUninstall then
  begin
    Dir := ExpandConstant('{app}');
    if RegQueryStringValue(HKCU, 'Environment', 'Path', Current) then
    begin
      P := Pos(';' + Uppercase(Dir), Uppercase(Current));
      if P > 0 then
      begin
        Delete(Current, P, Length(Dir) + 1);
        RegWriteExpandStringValue(HKCU, 'Environment', 'Path', Current);
      end;
    end;
  end;
end;
