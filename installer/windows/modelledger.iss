; Inno Setup 6 script for the Windows installer of ModelLedger.
;
; Built by installer/build.py on Windows, after PyInstaller has made dist\ModelLedger:
;   ISCC /DAppVersion=0.1.0 /DSourceDir=dist\ModelLedger /DIconFile=build\icons\modelledger.ico
;        /DOutputDir=dist installer\windows\modelledger.iss
; gives dist\ModelLedger-0.1.0-windows-x64-setup.exe.
;
; It installs for the current user by default (no administrator rights; the user may choose
; "all users" instead), adds a Start-menu entry, offers ModelLedger in "Open with" for evidence
; packs (.zip files) without taking zip files over, and registers an uninstaller. Workspaces,
; settings, signing keys and logs live in %LOCALAPPDATA%\ModelLedger and wherever the user
; keeps workspace files: neither an upgrade nor the uninstaller touches them.

#ifndef AppVersion
  #error Give /DAppVersion=X.Y.Z (installer/build.py does)
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\ModelLedger"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\modelledger.ico"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

#define AppName "ModelLedger"
#define AppExe "ModelLedger.exe"
#define PackProgId "ModelLedger.EvidencePack"

[Setup]
; The AppId ties upgrades and the uninstaller to earlier installs: never change it.
AppId={{5E0B7C1A-6F1D-4C4E-9A57-3B7D2E8F4A10}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes
; An upgrade replaces the program files while ModelLedger is closed; Restart Manager asks the
; user to close a running copy first, so no workspace is left half-written.
CloseApplications=yes
RestartApplications=no

[Tasks]
Name: "packs"; Description: "Offer ModelLedger in ""Open with"" for evidence packs (.zip)"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; Flags: unchecked

[InstallDelete]
; The previous version's program files: a module removed in this version must not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; "Open with" for .zip files: a ProgID of our own, listed under .zip's OpenWithProgids. The
; default program for zip files stays what it was. HKA is the current user's or the machine's
; classes, following the install mode.
Root: HKA; Subkey: "Software\Classes\{#PackProgId}"; ValueType: string; ValueName: ""; ValueData: "ModelLedger evidence pack"; Flags: uninsdeletekey; Tasks: packs
Root: HKA; Subkey: "Software\Classes\{#PackProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: packs
Root: HKA; Subkey: "Software\Classes\{#PackProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" gui ""%1"""; Tasks: packs
Root: HKA; Subkey: "Software\Classes\.zip\OpenWithProgids"; ValueType: string; ValueName: "{#PackProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: packs
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".zip"; ValueData: ""; Flags: uninsdeletekey; Tasks: packs

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
